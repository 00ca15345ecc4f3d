"""Which process dates an import covers: one date, a range, or each register's dates since its last clean import.

`--since-last`: for each register, every date after its last clean import up to yesterday (or today).
A date's import is clean when everything it read landed (status ok, or skipped as identical to such
an import) and it ran after the date had ended: one that ran during the day (a `watch` cycle at 20:00)
may have missed the day's last sales (FAULTS 45). An undone import does not count. A register never
imported cleanly starts from its first attempted date, or, never tried at all, from the last date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from etl.errors import ConfigError
from etl.i18n import Said
from etl.store import Store

LOOK_BACK_DAYS = 31  # how far `watch` reaches back on its own; `import --since-last` has no such limit
MAX_DATES = 366  # a longer range is almost certainly a typo

_PER_REGISTER = """
WITH undone AS (SELECT register, process_date, max(logged_at) AS at FROM sync_log
                WHERE action = 'import undo' GROUP BY ALL),
     imports AS (
    SELECT l.register, l.process_date, max(l.logged_at) FILTER (l.status IN ('ok', 'skipped')) AS clean_at,
           count(*) AS tried
    FROM sync_log l LEFT JOIN undone u USING (register, process_date)
    WHERE l.action = 'import' AND l.process_date IS NOT NULL AND (u.at IS NULL OR l.logged_at > u.at)
    GROUP BY ALL)
SELECT r.name,
       max(i.process_date) FILTER (i.clean_at >= i.process_date + INTERVAL 1 DAY) AS clean,
       min(i.process_date) AS first
FROM remotes r LEFT JOIN imports i ON i.register = r.name
WHERE list_contains(?::VARCHAR[], r.name)
GROUP BY r.name ORDER BY r.name
"""

Schedule = tuple[tuple[dt.date, tuple[str, ...]], ...]  # (date, registers importing it), oldest first


@dataclass(frozen=True)
class Selection:
    """The dates of a run: which registers import which date, and what the selection decided, in words."""

    schedule: Schedule
    notes: tuple[str, ...] = ()

    @property
    def dates(self) -> tuple[dt.date, ...]:
        return tuple(day for day, _ in self.schedule)


def days(first: dt.date, last: dt.date) -> tuple[dt.date, ...]:
    """Every date from first to last, both included.

    >>> days(dt.date(2026, 11, 24), dt.date(2026, 11, 26))[-1]
    datetime.date(2026, 11, 26)
    """
    if last < first:
        raise ConfigError(Said("--from %(first)s is after --to %(last)s; give the earlier date first.",
                               first=str(first), last=str(last)))
    count = (last - first).days + 1
    if count > MAX_DATES:
        raise ConfigError(Said("--from %(first)s --to %(last)s is %(count)s dates; import at most %(most)s at a "
                               "time.", first=str(first), last=str(last), count=str(count), most=str(MAX_DATES)))
    return tuple(first + dt.timedelta(days=i) for i in range(count))


def every(dates: tuple[dt.date, ...], registers: tuple[str, ...]) -> Selection:
    """The same registers on every date."""
    return Selection(tuple((day, registers) for day in dates))


def since_last(store: Store, registers: tuple[str, ...], last: dt.date, look_back: int | None = None) -> Selection:
    """For each register, the dates after its last clean import up to `last` (see the module doc)."""
    earliest = last - dt.timedelta(days=look_back) if look_back is not None else None
    wanted: dict[dt.date, list[str]] = {}
    notes: list[str] = []
    for name, clean, first in store.con.execute(_PER_REGISTER, [list(registers)]).fetchall():
        start = clean + dt.timedelta(days=1) if clean else (first or last)
        if clean is None:
            notes.append(Said("%(register)s has no clean import yet: from %(date)s", register=name,
                              date=str(min(start, last))) if first else
                         Said("%(register)s has no clean import yet: from %(date)s (never imported; use --from for "
                              "its history)", register=name, date=str(min(start, last))))
        if earliest is not None and start < earliest:
            notes.append(Said("%(register)s: dates before %(date)s left for `posync import --since-last`",
                              register=name, date=str(earliest)))
            start = earliest
        day = min(start, last) if clean is None else start
        while day <= last:
            wanted.setdefault(day, []).append(name)
            day += dt.timedelta(days=1)
    return Selection(tuple((day, tuple(names)) for day, names in sorted(wanted.items())), tuple(notes))
