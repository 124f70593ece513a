"""The only module that imports rich: tables, JSON, JSONL, quiet ids, errors and hints.

stdout carries results only; warnings, hints, progress and errors go to stderr. In
``--json`` mode stdout holds exactly one JSON document, also on failure. Everything passes
through the run's Redactor on its way out.

``Output`` implements ``smscli.report.Reporter`` (the events the pipeline reports) for
terminals and pipes, and adds what the other commands print (``print``, ``json``,
``table``, ``check_report``, ``error``). The Python API does not use it: it collects the
same events with ``smscli.api.Collector``.

Longer than the ~500 lines a module aims for, because it is the only module allowed to
import rich (a ruff rule): the table layout for narrow terminals lives here with the rest.
"""

from __future__ import annotations

import io
import json
import os
import sys
import threading
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from smscli.errors import SmscliError
from smscli.redaction import Redactor
from smscli.report import stdout_failure

if TYPE_CHECKING:
    from rich.console import Console

    from smscli.catalog import Measure
    from smscli.models import MessageCheck, Request, SendResult
    from smscli.report import CheckLine, Reporter

_STATUS_STYLE = {
    "accepted": "green",
    "queued": "green",
    "sent": "green",
    "delivered": "bold green",
    "failed": "red",
    "rejected": "red",
    "expired": "red",
    "unknown": "yellow",
    "canceled": "red",
    "not-sent": "dim",
    "skipped": "dim",
    "deduped": "dim",
}


HUMAN_TABLE_LIMIT = 50  # above this, human output is a summary, not a table of every result


class Output:
    """The renderer: ``Reporter`` for a terminal/pipe in one of four modes (human, json,
    jsonl, quiet)."""

    def __init__(self, mode: str = "human", redactor: Redactor | None = None) -> None:
        self.mode = mode
        self.redactor = redactor or Redactor()
        self._out: Console | None = None
        self._err: Console | None = None
        self.stdout_closed = False
        self.stdout_error: str | None = None  # why stdout could not be written
        self._progress: Any = None
        self._task: Any = None
        self._lock = threading.Lock()
        self._failure_shown: str | None = None  # -q: the last failure shown, as its message

    # -- consoles (built per invocation: rich reads NO_COLOR/COLUMNS when it is created) ----
    def _console(self, stderr: bool) -> Console:
        from rich.console import Console

        stream = sys.stderr if stderr else sys.stdout
        tty = stream.isatty()
        return Console(
            file=stream,
            highlight=False,
            no_color=bool(os.environ.get("NO_COLOR")) or not tty,
            width=None if tty else 200,
            soft_wrap=not tty,
        )

    @property
    def out(self) -> Console:
        if self._out is None:
            self._out = self._console(stderr=False)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            self._err = self._console(stderr=True)
        return self._err

    # -- plain lines -------------------------------------------------------------------------
    def _line(self, stream: Any, text: str) -> None:
        stream.write(self.redactor.text(text) + "\n")
        stream.flush()

    def stderr_error(self, message: str) -> None:
        """An error line on stderr whatever the mode (stdout cannot carry it)."""
        self._line(sys.stderr, f"error: {message}")

    def warning(self, message: str) -> None:
        self._line(sys.stderr, f"warning: {message}")

    def note(self, message: str) -> None:
        """A hint or progress note (stderr; silent with --quiet)."""
        if self.mode != "quiet":
            self._line(sys.stderr, message)

    def trace(self, line: str) -> None:
        self._line(sys.stderr, line)

    def print(self, text: str) -> None:
        """A line of plain result text on stdout."""
        self._stdout(self.redactor.text(text) + "\n")

    def json(self, data: Any) -> None:
        self._stdout(json.dumps(self.redactor.data(data), ensure_ascii=False) + "\n")

    def _stdout(self, text: str) -> None:
        """Write to stdout. When it cannot be written (the reader of ``smscli … | head`` has
        gone away, the disk is full), the first write raises (a bulk run stops on it, like
        Ctrl-C), ``stdout_error`` says why, and later writes are dropped."""
        if self.stdout_closed:
            return
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except OSError as exc:
            self.stdout_closed = True
            self.stdout_error = stdout_failure(exc)
            silence_stdout()
            raise

    # -- errors ------------------------------------------------------------------------------
    def error(self, err: SmscliError) -> None:
        message = self.redactor.text(err.message)
        hint = self.redactor.text(err.hint) if err.hint else None
        if err.provider_code and err.provider_code not in message:
            message = f"{message} [{err.provider_code}]"
        if self.mode == "quiet" and err.message == self._failure_shown:
            # -q has shown this failure already, on its target's line (the send to a single
            # target failed, and that failure is the run's error): only the hint is new.
            message = ""
        if self.mode == "json":
            error: dict[str, Any] = {
                "code": err.code,
                "message": message,
                "hint": hint,
                "exit_code": int(err.exit_code),
                "provider_code": err.provider_code,
            }
            if err.problems:
                error["problems"] = [self.redactor.text(p) for p in err.problems]
                if err.problems_omitted:
                    error["problems_omitted"] = err.problems_omitted
            self.json({"error": error})
            return
        if message:
            self._line(sys.stderr, f"error: {message}")
        for problem in err.problems:
            self._line(sys.stderr, f"  {problem}")
        if err.problems_omitted:
            self._line(sys.stderr, f"  … and {err.problems_omitted} more")
        if hint:
            self._line(sys.stderr, f"hint: {hint}")

    def internal_error(self, exc: BaseException) -> None:
        err = SmscliError(
            f"internal error: {type(exc).__name__}: {exc}",
            hint="this is a bug in smscli; SMSCLI_DEBUG=1 shows the traceback",
        )
        self.error(err)

    # -- send results ------------------------------------------------------------------------
    def wants_results(self, total: int) -> bool:
        """--json prints every RESULT at the end; a terminal shows a table of a few dozen
        (a summary past that). --jsonl and -q stream them; keeping a few dozen costs
        nothing."""
        return self.mode == "json" or total <= HUMAN_TABLE_LIMIT

    def result(self, result: SendResult) -> None:
        """Called as each RESULT is recorded: --jsonl prints it at once, -q its id."""
        if self.mode == "jsonl":
            with self._lock:
                self.json(result.to_json())
        elif self.mode == "quiet":
            ident = result.printed_id
            with self._lock:
                if ident and result.status.is_success:
                    self.print(ident)
                elif result.error:  # ids on stdout, failures still visible on stderr
                    self._failure(result)
                    self._failure_shown = result.error.get("message")

    def progress_start(self, total: int) -> None:
        """A progress bar on stderr (a terminal, human mode only, more than one target)."""
        if total <= 1 or self.mode != "human" or not sys.stderr.isatty():
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._progress = Progress(
            "sending",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=self.err,
            transient=True,
        )
        self._task = self._progress.add_task("send", total=total)
        self._progress.start()

    def progress_advance(self, done: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, done)

    def progress_stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def statuses(
        self, results: Sequence[SendResult], summary: dict[str, int], batch: str | None
    ) -> None:
        if self.mode == "quiet":
            for result in results:
                self.print(result.status.value)  # `status -q`: just the word, for scripts
        else:
            self.results(results, summary, batch)

    def checks(self, lines: Sequence[CheckLine], hint: str | None) -> None:
        if self.mode == "json":
            rows = [{"check": c.check, "result": c.result, "detail": c.detail} for c in lines]
            self.json({"ok": all(c.result != "FAIL" for c in lines), "checks": rows})
            return
        self.table(["check", "result", "detail"], ([c.check, c.result, c.detail] for c in lines))
        if hint:
            self.note(f"hint: {hint}")

    def results(
        self, results: Sequence[SendResult], summary: dict[str, int], batch: str | None = None
    ) -> None:
        """The end of a send: one JSON document, a table and a summary line, or (streamed
        modes) only the batch line on stderr."""
        if self.mode == "json":
            doc_summary = dict(summary) | ({"batch": batch} if batch is not None else {})
            self.json({"results": [r.to_json() for r in results], "summary": doc_summary})
        elif self.mode == "jsonl":
            # stdout carries only RESULT lines; the batch (for --resume) goes to stderr.
            if batch:
                self._line(sys.stderr, _summary_line(summary, batch))
        elif self.mode == "human":
            # A run keeps every RESULT or none (past HUMAN_TABLE_LIMIT: a summary only). The
            # targets a --resume skips have none: they count in the summary, not the table.
            shown = bool(results)
            if shown:
                self._results_table(results)
            for r in results:
                if r.error:
                    self._failure(r)
            if summary["total"] > 1 or not shown:
                self._line(sys.stderr, _summary_line(summary, batch))

    def _failure(self, result: SendResult) -> None:
        """A RESULT's error on stderr: a failure, or why --skip-invalid left it out (its
        message names the target already: "target 2 (12): invalid msisdn …")."""
        assert result.error is not None
        if result.status.value == "skipped":
            self._line(sys.stderr, f"warning: skipped {result.error.get('message')}")
        else:
            self._line(sys.stderr, f"error: {result.target}: {result.error.get('message')}")

    def _results_table(self, results: Sequence[SendResult]) -> None:
        columns = ["provider", "target", "status", "message id", "request id / uuid / ref"]
        columns += ["date", "segments", "encoding"]
        has_details = any(r.details for r in results)
        if has_details:
            columns.append("details")
        has_reply = any(r.reply is not None for r in results)
        if has_reply:
            columns.append("reply")
        rows = []
        for r in results:
            message_id = r.message_id or ""
            if r.parts and len(r.parts) > 1:
                message_id += f" (+{len(r.parts) - 1} parts)"
            row = [
                r.provider,
                r.target,
                r.status.value,
                message_id,
                " / ".join(x for x in (r.request_id, r.uuid, r.reference) if x),
                r.date or "",
                "" if r.segments is None else str(r.segments),
                r.encoding or "",
            ]
            if has_details:
                row.append(
                    ", ".join(f"{k}={_shown(v)}" for k, v in r.details.items() if v is not None)
                )
            if has_reply:
                row.append((r.reply or {}).get("text") or ("(none)" if r.reply == {} else ""))
            rows.append(row)
        self.table(columns, rows, status_column=2, whole=(1, 3, 4))

    def dry_run_requests(self, requests: Sequence[Request]) -> None:
        rendered = [
            (
                r.method,
                self.redactor.text(r.full_url()),
                self.redactor.headers(_request_headers(r)),
                self.redactor.body(r.body_text()),
            )
            for r in requests
        ]
        if self.mode in ("json", "jsonl"):
            self.json(
                {
                    "dry_run": True,
                    "requests": [
                        {"method": m, "url": u, "headers": h, "body": b} for m, u, h, b in rendered
                    ],
                }
            )
            return
        if self.mode != "quiet":
            self._line(sys.stderr, "dry run: nothing is sent; secrets are shown as ***")
        for method, url, headers, body in rendered:
            self.print(f"{method} {url}")
            for name, value in headers.items():
                self.print(f"{name}: {value}")
            if body is not None:
                self.print("")
                self.print(body)
            self.print("")

    # -- check -------------------------------------------------------------------------------
    def check_report(
        self,
        check: MessageCheck,
        problems: Sequence[SmscliError],
        context: str | None,
        measure: Measure | None = None,
    ) -> None:
        """`smscli check`: the numbers of the message, in the provider's own measure when it
        has one (ThingSpace counts UTF-8 bytes of one message, not UCS-2 segments)."""
        segments = 1 if measure is not None else check.segments
        if self.mode in ("json", "jsonl"):
            data = check.to_json()
            data["ok"] = not problems
            data["problems"] = [p.message for p in problems]
            if check.smart_segments is not None:
                data["smart_segments"] = check.smart_segments
            if check.skipped:  # --smart kept the text: replacing would cost segments
                data["skipped_replacements"] = [r.to_json() for r in check.skipped]
                data["replaced_segments"] = check.replaced_segments
            if measure is not None:
                data["measure"] = {
                    "unit": measure.unit,
                    "size": measure.size,
                    "limit": measure.limit,
                    "segments": segments,
                }
            self.json(data)
            return
        if self.mode == "quiet":
            self.print(str(segments))
            return
        # Plain aligned text, not rich: `check` must start fast (SPEC §9) and this is a
        # short report, not a table of results.
        unit = {"gsm7": "septets", "ucs2": "UTF-16 units", "binary": "octets"}[check.encoding.value]
        rows = [
            ("encoding", check.encoding.value),
            ("characters", str(check.characters)),
            ("units", f"{check.units} {unit}"),
            (
                "segments",
                f"{check.segments} (one segment holds {check.single_limit}; "
                f"each part of a longer message {check.part_limit})",
            ),
        ]
        if measure is not None:
            rows[0] = ("encoding", measure.how)
            rows[2] = ("size", f"{measure.size} {measure.unit}")
            rows[3] = ("segments", f"1 (one message holds {measure.limit} {measure.unit})")
        if context:
            rows.append(("checked for", context))
        for name, value in rows:
            self.print(f"{name:<12}{value}")
        if len(check.parts) > 1 and measure is None:
            self.print("")
            for i, part in enumerate(check.parts, 1):
                self.print(f"part {i:>3} ({_units(part, check):>3} units): {_visible(part)}")
        if check.non_gsm:
            self.print("")
            self.print("characters outside GSM-7:" if measure else "characters that force UCS-2:")
            for c in check.non_gsm:
                lookalike = (
                    f"GSM look-alike {_visible(c.lookalike)}" if c.lookalike else "no look-alike"
                )
                positions = ", ".join(map(str, c.positions))
                self.print(f"  {_visible(c.char)}  {c.codepoint}  at {positions}  ({lookalike})")
        for r in check.replacements:
            self.print(
                f"replaced {_visible(r.char)} ({r.codepoint}) with {_visible(r.replacement)} "
                f"at {', '.join(map(str, r.positions))}"
            )
        if check.skipped:
            from smscli.message import smart_skipped

            self.print(smart_skipped(check))
        if check.smart_segments is not None:
            self.print(
                f"--smart would send it as {check.smart_segments} segment(s) "
                f"instead of {check.segments}"
            )
        for p in problems:
            self._line(sys.stderr, f"error: {p.message}")
            if p.hint:
                self._line(sys.stderr, f"hint: {p.hint}")

    # -- generic tables (log, providers, profiles) ------------------------------------------
    def table(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        title: str | None = None,
        status_column: int | None = None,
        whole: Sequence[int] = (),
    ) -> None:
        """A table on stdout: rich on a terminal; plain aligned columns otherwise (pipes,
        cron, CI), which also keeps start-up short there (SPEC §9) and suits grep/awk.
        ``whole``: columns (identifiers) that are never folded on a narrow terminal, so
        they can be copied; the other columns give up the width."""
        cells = [[self.redactor.text("" if c is None else str(c)) for c in row] for row in rows]
        if not sys.stdout.isatty():
            self._plain_table(columns, cells, title)
            return
        from rich.cells import cell_len
        from rich.table import Table

        if cells:  # on a terminal only (piped columns stay put for awk): drop empty columns
            keep = [i for i in range(len(columns)) if any(row[i] for row in cells)]
            if status_column is not None:
                status_column = keep.index(status_column) if status_column in keep else None
            whole = [keep.index(i) for i in whole if i in keep]
            columns = [columns[i] for i in keep]
            cells = [[row[i] for i in keep] for row in cells]
        # Display widths in terminal cells (CJK and most emoji take two), of a cell's widest
        # line. Identifier columns never fold (their headers may: "request id / uuid /
        # ref"); the others may, down to their longest header word or 12 cells.
        longest = [
            max([1, *(cell_len(line) for row in cells for line in row[i].splitlines())])
            for i in range(len(columns))
        ]

        def floors(other: int) -> list[int]:
            return [
                max(
                    *map(cell_len, name.split()),
                    longest[i] if i in whole else min(longest[i], other),
                )
                for i, name in enumerate(columns)
            ]

        least, room = floors(12), self.out.width - 3 * len(columns)  # 3: padding and rules
        if not whole and sum(least) > room:
            least = floors(8)
        if cells and sum(least) > room:
            # Too narrow for a table whose columns are at least that wide. Left to itself
            # (no fixed widths), rich would lose nothing (`smscli log`: above ~32 columns)
            # but shrink every column evenly to slivers ("accep/ted", "provi/der", a
            # timestamp on 7 lines, an error message a word or a syllable per line:
            # `smscli log` below ~70 columns), and fold identifiers. One "column  value"
            # line per cell loses nothing either, keeps identifiers whole and reads well at
            # any width. Tables without identifiers (log, providers, profiles, doctor) first
            # try columns of 8 (their longest header word at least): that keeps `smscli log`
            # a table at 80 columns, where 12 would not fit but a table still reads better
            # than records.
            self._records(columns, cells, title, status_column, whole)
            return
        natural = [max(cell_len(name), longest[i]) for i, name in enumerate(columns)]
        widths: list[int | None] = [None] * len(columns)  # None: rich decides (all fits)
        if sum(natural) > room:
            # Fixed widths, so that rich never squeezes a column below what its cells need
            # (it would then render the table wider than the terminal, which crops it): the
            # least each needs (they fit: spare >= 0), plus a share of what is left for the
            # columns that would like more.
            spare, wants = room - sum(least), [n - m for n, m in zip(natural, least, strict=True)]
            widths = [
                m + spare * w // max(1, sum(wants)) for m, w in zip(least, wants, strict=True)
            ]
        table = Table(title=title, show_edge=False, header_style="bold")
        for i, name in enumerate(columns):
            table.add_column(name, overflow="fold", min_width=least[i], width=widths[i])
        for row in cells:
            shown = [_escape(c) for c in row]
            if status_column is not None:
                style = _STATUS_STYLE.get(row[status_column], "")
                if style:
                    shown[status_column] = f"[{style}]{shown[status_column]}[/]"
            table.add_row(*shown)
        self.out.print(table)

    def _records(
        self,
        columns: Sequence[str],
        cells: list[list[str]],
        title: str | None,
        status_column: int | None,
        whole: Sequence[int],
    ) -> None:
        """A terminal too narrow for a table: one block per row, one "column  value" line
        per non-empty cell. A long value wraps at spaces, aligned under its first line; one
        with a word too long for that goes on the lines below its name, indented.
        Identifiers stay whole (copyable): only one wider than the terminal is left to the
        terminal to wrap."""
        from rich.cells import cell_len
        from rich.text import Text

        width = self.out.width
        if title:
            self.out.print(Text(title, style="bold"))
        name_width = max(cell_len(c) for c in columns)
        for n, row in enumerate(cells):
            if n:
                self.out.print()
            for i, (name, cell) in enumerate(zip(columns, row, strict=True)):
                if not cell:
                    continue
                style = _STATUS_STYLE.get(cell, "") if i == status_column else ""
                value = Text(cell, style=style)
                word = max((cell_len(w) for w in cell.split()), default=0)
                head = Text(name + " " * (name_width - cell_len(name)) + "  ", style="bold")
                indent = cell_len(head.plain)
                if word > width - indent:  # under its name
                    self.out.print(Text(name, style="bold"), soft_wrap=True)
                    indent = 2 if word <= width - 2 or i not in whole else 0
                    head = Text(" " * indent)
                # A word wider than the room is folded, except an identifier's (no wrap).
                fold = word <= width - indent or i not in whole
                lines = value.wrap(
                    self.out, max(1, width - indent), overflow="fold" if fold else "ignore"
                )
                for k, line in enumerate(lines):
                    line.rstrip()
                    self.out.print(
                        Text.assemble(head if k == 0 else " " * indent, line), soft_wrap=True
                    )

    def _plain_table(
        self, columns: Sequence[str], cells: list[list[str]], title: str | None
    ) -> None:
        cells = [[" ".join(c.split()) for c in row] for row in cells]  # one line per row
        widths = [len(c) for c in columns]
        for row in cells:
            widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
        if title:
            self.print(title)
        for row in [list(columns), *cells]:
            self.print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def silence_stdout() -> None:
    """Point stdout at /dev/null once its reader is gone, so that no later write (nor
    Python's own flush at exit) raises BrokenPipeError again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass  # not a real file (tests): nothing to protect


def _summary_line(summary: dict[str, int], batch: str | None) -> str:
    if "delivered" in summary:  # after --wait, and `status`: what reached the device
        waiting = summary["accepted"] - summary["delivered"]
        taken = f"{summary['delivered']} delivered, {waiting} not delivered yet"
    else:
        taken = f"{summary['accepted']} accepted"
    line = (
        f"{summary['total']} target(s): {taken}, {summary['failed']} failed, "
        f"{summary['skipped']} skipped"
    )
    if batch:
        line += f" (batch {batch}; details: smscli log --batch {batch})"
    return line


def _request_headers(request: Request) -> dict[str, str]:
    headers = dict(request.headers)
    if request.json is not None:
        headers.setdefault("Content-Type", "application/json")
    if request.form is not None:
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    return headers


def _units(part: str, check: MessageCheck) -> int:
    if check.encoding.value == "binary":
        return len(part) // 2
    if check.encoding.value == "ucs2":
        return len(part.encode("utf-16-le")) // 2
    from smscli.encoding import septets

    return sum(septets(ch) or 0 for ch in part)


def _visible(text: str) -> str:
    """A character or part as the user can read it: control characters as escapes."""
    shown = "".join(ch if ch.isprintable() or ch == " " else f"\\u{ord(ch):04x}" for ch in text)
    return f"'{shown}'"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


if TYPE_CHECKING:

    def _reports(out: Output) -> Reporter:
        """mypy: the renderer implements every event of the reporting interface."""
        return out


def _shown(value: Any) -> str:
    """A details value in a table cell: text as it is, a nested object or list as compact
    JSON (not Python's repr, ``{'status': …}``)."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value)
