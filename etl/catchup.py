"""Which process dates still need an import: nothing a register sold is left behind (FAULTS 45).

A date is complete for a register once an import of it ran after the date had ended; one that ran
during the day (a `watch` cycle at 20:00) may have missed the day's last sales. For each register,
the dates from the one after its last complete date (or its first imported date, when none is
complete yet) up to yesterday still need an import. A register never imported has none: a new
install starts from today.
"""

from __future__ import annotations

import datetime as dt

from etl.store import Store

LOOK_BACK_DAYS = 31  # never reach further back than this on its own; a range import does the rest

_PER_REGISTER = """
WITH imports AS (
    SELECT register, process_date, max(logged_at) AS last_at FROM sync_log
    WHERE action = 'import' AND status IN ('ok', 'partial', 'skipped') AND process_date IS NOT NULL
    GROUP BY ALL)
SELECT r.name,
       max(i.process_date) FILTER (i.last_at >= i.process_date + INTERVAL 1 DAY) AS complete,
       min(i.process_date) AS first
FROM remotes r LEFT JOIN imports i ON i.register = r.name
WHERE ?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], r.name)
GROUP BY r.name
"""


def dates_to_complete(store: Store, today: dt.date, registers: tuple[str, ...] = ()) -> tuple[dt.date, ...]:
    """The dates before today that some register has not had a complete import of, oldest first."""
    names = list(registers) or None
    earliest = today - dt.timedelta(days=LOOK_BACK_DAYS)
    starts = []
    for _name, complete, first in store.con.execute(_PER_REGISTER, [names, names]).fetchall():
        start = complete + dt.timedelta(days=1) if complete else first
        if start is not None:
            starts.append(max(start, earliest))
    if not starts:
        return ()
    day, dates = min(starts), []
    while day < today:
        dates.append(day)
        day += dt.timedelta(days=1)
    return tuple(dates)
