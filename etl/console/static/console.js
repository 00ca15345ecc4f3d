// posync console: small progressive enhancements; every page works without this file.
"use strict";

// Ask before the actions that change data in a way one may regret (data-confirm on a form or a button).
document.addEventListener("submit", (event) => {
  const button = event.submitter;
  const text = (button && button.dataset.confirm) || event.target.dataset.confirm;
  if (text && !window.confirm(text)) {
    event.preventDefault();
    return;
  }
  if (button) setTimeout(() => { button.disabled = true; }, 0); // one click, one job
});

// The header checkbox of the register table ticks every register.
document.querySelectorAll("input[data-all]").forEach((all) => {
  all.addEventListener("change", () => {
    document.querySelectorAll(`input[type=checkbox][name="${all.dataset.all}"]`).forEach((box) => {
      if (box !== all) box.checked = all.checked;
    });
  });
});

// A running job: follow its progress through Server-Sent Events, then show its result.
const job = document.getElementById("job");
if (job && job.dataset.state === "running" && window.EventSource) {
  const stages = document.getElementById("stages");
  const events = document.getElementById("events");
  const source = new EventSource(`/jobs/${job.dataset.job}/events?after=${job.dataset.seen}`);
  source.onmessage = (message) => {
    const e = JSON.parse(message.data);
    const item = document.createElement("li");
    item.textContent = `${e.at} ${e.register}: ${e.message}`;
    events.appendChild(item);
    const placeholder = stages.querySelector("tr.placeholder");
    if (placeholder) placeholder.remove();
    let row = Array.from(stages.rows).find((r) => r.dataset.register === e.register);
    if (!row) {
      row = stages.insertRow();
      row.dataset.register = e.register;
      for (let i = 0; i < 3; i += 1) row.insertCell();
      row.cells[1].className = "message";
    }
    row.cells[0].textContent = e.register;
    row.cells[1].textContent = e.message;
    row.cells[2].textContent = e.at;
  };
  source.addEventListener("done", () => {
    source.close();
    window.location.reload();
  });
  source.onerror = () => {
    // the console stopped or the connection dropped: fall back to reloading now and then
    source.close();
    setTimeout(() => window.location.reload(), 3000);
  };
}

// Coming back with the browser's Back button shows the page as it was left: buttons usable again.
window.addEventListener("pageshow", () => {
  document.querySelectorAll("button:disabled").forEach((button) => { button.disabled = false; });
});
