"""The HTML report's timeline as one Vega-Lite specification (ADR 0019): views
stacked on one shared time axis (seconds since the run's origin), zoomed
together with the mouse wheel or a drag, every mark with a tooltip.

* lanes: the phases; each fault (in force from inject to revert, with inject /
  verify / revert marks); TTD, MTTR and heal of each iteration as spans; each
  probe's ok and failed runs (a probe outside the target in its own colours, a
  breach marked); notes and controller actions;
* each probe's latency; each measuring probe's readings, one view per unit;
* each load stream's throughput, error rate and p50 / p99, a point per window.

Every colour of the lanes is in the data (``c``, drawn with ``scale: null``),
so they share no colour scale with the lines and their legend is plain HTML.
The lines share :data:`POINT_BUDGET` points (at least :data:`MIN_POINTS` each);
a longer series keeps the highest value of each time bucket: a spike is never
averaged away, and the page stays small (under 2 MB for a 10-minute run)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from chaoskit._events import ControlApplied, LoadWindow
from chaoskit._phases import Phase
from chaoskit._results import IterationMeasurements
from chaoskit._units import format_duration
from chaoskit.report._timeline import FaultMoments, PhaseSpan, ProbeSeries, TimelineRecorder

__all__ = [
    "COLOURS",
    "MIN_POINTS",
    "POINT_BUDGET",
    "LegendEntry",
    "legend",
    "peaks",
    "timeline_spec",
]

POINT_BUDGET = 12_000
"""Points drawn of all the lines together (latency and readings), about 45 bytes each."""
MIN_POINTS = 300
"""Points a line may keep whatever the number of lines."""
MAX_WINDOWS = 1200
"""Points a load stream's line keeps at most; more windows are merged."""

LANE_HEIGHT = 22
CHART_HEIGHT = 110
DEFAULT_WIDTH = 1000

COLOURS = {
    str(Phase.PREFLIGHT): "#dadaeb",
    str(Phase.BASELINE): "#c6dbef",
    str(Phase.FAULTS): "#fdd0a2",
    str(Phase.RECOVERY): "#c7e9c0",
    str(Phase.AUDIT): "#e5d8bd",
    str(Phase.VERDICT): "#d9d9d9",
    str(Phase.START): "#f0f0f0",
    "fault": "#636363",
    "fault-failed": "#a50f15",
    "ttd": "#fc9272",
    "mttr": "#cb181d",
    "mttr-open": "#67000d",
    "heal": "#6a51a3",
    "ok": "#41ab5d",
    "failed": "#e31a1c",
    "ok-outside": "#9ecae1",
    "failed-outside": "#fd8d3c",
    "note": "#08519c",
}

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class LegendEntry:
    colour: str
    text: str


def legend() -> list[LegendEntry]:
    """What the lanes' colours mean, for the page under the timeline."""
    return [
        LegendEntry(COLOURS["ok"], "probe ok"),
        LegendEntry(COLOURS["failed"], "probe failed"),
        LegendEntry(COLOURS["ok-outside"], "outside probe ok"),
        LegendEntry(COLOURS["failed-outside"], "outside probe failed (a breach)"),
        LegendEntry(COLOURS["fault"], "fault in force (▲ inject, ● verified, ▼ revert)"),
        LegendEntry(COLOURS["ttd"], "TTD: inject to impact"),
        LegendEntry(COLOURS["mttr"], "MTTR: impact to recovered"),
        LegendEntry(COLOURS["heal"], "heal: revert to recovered"),
        LegendEntry(COLOURS["note"], "note or controller action"),
    ]


def timeline_spec(
    timeline: TimelineRecorder,
    iterations: Sequence[IterationMeasurements],
    controls: Sequence[ControlApplied],
    units: dict[str, str | None],
) -> JsonDict:
    """The Vega-Lite spec of the run's timeline. ``iterations`` are the results'
    IterationMeasurements, ``controls`` the ControlApplied events, ``units`` each
    steady-state probe's unit (None for a probe that does not measure)."""
    end = round(max(timeline.end, 0.001), 3)
    phases = timeline.close()
    lanes = _Lanes()
    for span in phases:
        lanes.span("phase", span.start, span.end, str(span.phase), _phase_label(span), "")
    for moments in sorted(timeline.faults.values(), key=_fault_order):
        _fault_lane(lanes, moments, end)
    for it in iterations:
        _measure_lanes(lanes, it, end)
    probes = [
        series for series in sorted(timeline.probes.values(), key=_probe_order) if series.starts
    ]
    for series in probes:
        _probe_lane(lanes, series)
    for it in iterations:
        for breach in it.blast_radius:
            lanes.mark(
                _probe_lane_name("steady", breach.probe, "outside"),
                breach.t_first_failure,
                "failed-outside",
                "cross",
                f"breach in iteration {it.iteration}",
                f"propagation delay {_signed(breach.propagation_delay)} "
                f"(resolution {format_duration(breach.resolution)}, "
                f"measured from the {breach.measured_from.replace('-', ' ')})",
            )
    for control in controls:
        what = control.action if control.action == "note" else f"{control.action} (control)"
        detail = " ".join(part for part in (control.step or "", control.why) if part)
        lanes.mark("notes", control.t, "note", "diamond", f"{what} by {control.by}", detail)

    background = _background(phases, timeline.faults.values(), end)
    lines = len(probes) + sum(
        len(series.readings) for series in probes if units.get(series.name) is not None
    )
    limit = max(MIN_POINTS, POINT_BUDGET // max(lines, 1))
    views: list[JsonDict] = [_lanes_view(lanes, background, end)]
    views.append(_latency_view(probes, background, end, limit))
    for unit, rows in _readings(probes, units, limit).items():
        views.append(_line_view(f"readings ({unit})", unit, rows, background, end))
    windows, merged = _load_rows(timeline)
    if windows:
        note = f"; a point per {merged} windows" if merged > 1 else ""
        views.append(
            _load_view("throughput (answers/s)" + note, "rate", ".1f", windows, background, end)
        )
        views.append(_load_view("error rate" + note, "errors", ".1%", windows, background, end))
        worst = f"; a point per {merged} windows, their worst" if merged > 1 else ""
        views.append(_latency_quantiles_view(worst, windows, background, end))
    for index, view in enumerate(views):
        view["name"] = f"view{index}"
        # one selection named alike in every view: Vega-Lite makes it one, bound to
        # the shared x scale, so the wheel or a drag in any view moves them all
        # (distinct names would fight over the scale: only the first view zoomed)
        view["layer"][0]["params"] = [
            {"name": "zoom", "select": {"type": "interval", "encodings": ["x"]}, "bind": "scales"}
        ]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "datasets": _name_datasets(views),
        "vconcat": views,
        "spacing": 14,
        "resolve": {"scale": {"x": "shared"}},
        "config": {
            "view": {"stroke": None},
            "axis": {"labelFontSize": 11, "titleFontSize": 11},
            "title": {"anchor": "start", "fontSize": 12, "fontWeight": "bold"},
            "legend": {"orient": "top", "labelLimit": 260, "title": None},
            "font": "DejaVu Sans, Helvetica, Arial, sans-serif",
        },
    }


def _name_datasets(views: list[JsonDict]) -> dict[str, list[JsonDict]]:
    """Each row list the layers draw, once: inline values become named datasets
    (a list several layers share is written once, not once per layer)."""
    datasets: dict[str, list[JsonDict]] = {}
    names: dict[int, str] = {}
    for view in views:
        for layer in view["layer"]:
            if "name" in layer["data"]:
                continue  # a layer every view shares (the background), named already
            rows = layer["data"].pop("values")
            name = names.get(id(rows))
            if name is None:
                name = names[id(rows)] = f"d{len(names)}"
                datasets[name] = rows
            layer["data"]["name"] = name
    return datasets


def peaks(
    starts: Sequence[float], values: Sequence[float], limit: int
) -> list[tuple[float, float]]:
    """(t, value) pairs of a series; when it is longer than ``limit``, each of
    ``limit`` equal time buckets keeps its highest value (with its own t)."""
    if len(starts) <= limit:
        return list(zip(starts, values, strict=True))
    first, last = starts[0], starts[-1]
    width = (last - first) / limit or 1.0
    out: list[tuple[float, float]] = []
    bucket = -1
    for t, value in zip(starts, values, strict=True):
        index = min(int((t - first) / width), limit - 1)
        if index != bucket:
            out.append((t, value))
            bucket = index
        elif value > out[-1][1]:
            out[-1] = (t, value)
    return out


class _Lanes:
    """The rows of the lanes view: spans (rectangles) and marks (symbols)."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.spans: list[JsonDict] = []
        self.marks: list[JsonDict] = []

    def _lane(self, lane: str) -> str:
        if lane not in self.order:
            self.order.append(lane)
        return lane

    def span(self, lane: str, t: float, t2: float, colour: str, what: str, detail: str) -> None:
        self.spans.append(
            {
                "lane": self._lane(lane),
                "t": _r(t),
                "t2": _r(max(t2, t)),
                "c": COLOURS[colour],
                "what": what,
                "when": f"{t:.3f}s → {t2:.3f}s ({format_duration(max(t2 - t, 0.0))})",
                "detail": detail,
            }
        )

    def mark(self, lane: str, t: float, colour: str, shape: str, what: str, detail: str) -> None:
        self.marks.append(
            {
                "lane": self._lane(lane),
                "t": _r(t),
                "c": COLOURS[colour],
                "shape": shape,
                "what": what,
                "when": f"{t:.3f}s",
                "detail": detail,
            }
        )


def _phase_label(span: PhaseSpan) -> str:
    if span.iteration is not None and span.phase in (Phase.FAULTS, Phase.RECOVERY):
        return f"{span.phase} (iteration {span.iteration})"
    return str(span.phase)


def _fault_order(moments: FaultMoments) -> tuple[float, str]:
    first = moments.started if moments.started is not None else moments.intent
    return (first if first is not None else math.inf, moments.name)


def _fault_lane(lanes: _Lanes, f: FaultMoments, end: float) -> None:
    lane = f"fault · {f.name}"
    what = f"{f.name} (iteration {f.iteration})"
    detail = f"{f.injector} on {f.target}" if f.injector else ""
    if f.injected is not None:
        until = f.reverted if f.reverted is not None else (f.failed_at or end)
        state = "" if f.reverted is not None else "; NOT REVERTED"
        lanes.span(lane, f.injected, until, "fault", what, detail + state)
        lanes.mark(lane, f.injected, "fault", "triangle-up", f"inject: {what}", detail)
    if f.verified is not None:
        lanes.mark(lane, f.verified, "fault", "circle", f"verified in force: {what}", detail)
    if f.reverted is not None:
        lanes.mark(lane, f.reverted, "fault", "triangle-down", f"revert: {what}", detail)
    if f.inject_failed:
        at = f.failed_at if f.failed_at is not None else (f.intent or 0.0)
        lanes.mark(lane, at, "fault-failed", "cross", f"inject failed: {what}", f.inject_failed)
    if f.revert_failed and f.failed_at is not None:
        lanes.mark(
            lane, f.failed_at, "fault-failed", "cross", f"revert failed: {what}", f.revert_failed
        )


def _measure_lanes(lanes: _Lanes, it: IterationMeasurements, end: float) -> None:
    n = it.iteration
    if it.t_inject is not None and it.t_impact is not None:
        lanes.span(
            "TTD",
            it.t_inject,
            it.t_impact,
            "ttd",
            f"TTD {format_duration(it.t_impact - it.t_inject)} (iteration {n})",
            _resolution(it.ttd_resolution),
        )
    if it.t_impact is not None:
        if it.recovered and it.t_recovered is not None:
            lanes.span(
                "MTTR",
                it.t_impact,
                it.t_recovered,
                "mttr",
                f"MTTR {format_duration(it.t_recovered - it.t_impact)} (iteration {n})",
                _resolution(it.mttr_resolution),
            )
        else:
            lanes.span("MTTR", it.t_impact, end, "mttr-open", f"NOT RECOVERED (iteration {n})", "")
    if it.t_revert is not None and it.t_recovered is not None and it.time_to_heal is not None:
        early = it.t_recovered < it.t_revert
        what = (
            f"healed {format_duration(-it.time_to_heal)} before the revert"
            if early
            else f"heal {format_duration(it.time_to_heal)}"
        )
        lanes.span(
            "heal",
            min(it.t_revert, it.t_recovered),
            max(it.t_revert, it.t_recovered),
            "heal",
            f"{what} (iteration {n})",
            _resolution(it.heal_resolution),
        )


def _probe_order(series: ProbeSeries) -> tuple[int, int, str]:
    return (series.role != "steady", series.scope != "target", series.name)


def _probe_lane_name(role: str, name: str, scope: str) -> str:
    where = "recovery probe" if role == "recovery" else scope
    return f"{where} · {name}"


def _probe_lane(lanes: _Lanes, series: ProbeSeries) -> None:
    lane = _probe_lane_name(series.role, series.name, series.scope)
    outside = "-outside" if series.scope == "outside" else ""
    for run in series.runs:
        state = "ok" if run.ok else "failed"
        lanes.span(
            lane,
            run.start,
            run.end,
            state + outside,
            f"{series.name}: {state} ({run.samples} sample{'s' * (run.samples != 1)})",
            "" if run.ok else run.detail,
        )


def _background(
    phases: Iterable[PhaseSpan], faults: Iterable[FaultMoments], end: float
) -> list[JsonDict]:
    """The layers every view draws under its data: the phases as bands and
    each fault's inject and revert as dashed rules."""
    bands = [
        {"t": _r(p.start), "t2": _r(p.end), "c": COLOURS[str(p.phase)], "what": _phase_label(p)}
        for p in phases
    ]
    rules = [
        {"t": _r(t), "what": f"{label}: {f.name}"}
        for f in faults
        for t, label in ((f.injected, "inject"), (f.reverted, "revert"))
        if t is not None
    ]
    layers: list[JsonDict] = [
        {
            "data": {"values": bands},
            "mark": {"type": "rect", "opacity": 0.35},
            "encoding": {
                "x": _x(end),
                "x2": {"field": "t2"},
                "color": {"field": "c", "type": "nominal", "scale": None},
            },
        }
    ]
    if rules:
        layers.append(
            {
                "data": {"values": rules},
                "mark": {"type": "rule", "strokeDash": [4, 3], "color": "#636363"},
                "encoding": {
                    "x": _x(end),
                    "tooltip": [{"field": "what", "title": "fault"}],
                },
            }
        )
    return layers


def _x(end: float, title: str | None = None) -> JsonDict:
    axis: JsonDict = {"title": title, "grid": True}
    return {
        "field": "t",
        "type": "quantitative",
        "scale": {"domain": [0, end], "nice": False, "zero": False},
        "axis": axis,
    }


def _view(title: str, height: int, background: list[JsonDict], layers: list[JsonDict]) -> JsonDict:
    return {
        "title": title,
        "width": DEFAULT_WIDTH,
        "height": height,
        # each view its own copy of the shared layers (their data stays shared):
        # the zoom selection is added to a view's first layer
        "layer": [*({**layer} for layer in background), *layers],
    }


_TIP = [
    {"field": "what", "title": "what"},
    {"field": "when", "title": "when"},
    {"field": "detail", "title": "detail"},
]


def _lanes_view(lanes: _Lanes, background: list[JsonDict], end: float) -> JsonDict:
    y = {"field": "lane", "type": "nominal", "sort": lanes.order, "title": None}
    y_axis = y | {"axis": {"labelLimit": 220, "labelFontSize": 11}}
    layers: list[JsonDict] = [
        {
            "data": {"values": lanes.spans},
            "mark": {"type": "rect", "height": {"band": 0.7}},
            "encoding": {
                "x": _x(end, "seconds since the run started"),
                "x2": {"field": "t2"},
                "y": y_axis,
                "color": {"field": "c", "type": "nominal", "scale": None},
                "description": {"field": "what"},
                "tooltip": _TIP,
            },
        }
    ]
    if lanes.marks:
        layers.append(
            {
                "data": {"values": lanes.marks},
                "mark": {"type": "point", "filled": True, "size": 70, "opacity": 1},
                "encoding": {
                    "x": {"field": "t", "type": "quantitative"},
                    "y": y,
                    "shape": {"field": "shape", "type": "nominal", "scale": None},
                    "color": {"field": "c", "type": "nominal", "scale": None},
                    "description": {"field": "what"},
                    "tooltip": _TIP,
                },
            }
        )
    # the phase bands are drawn in the lanes as the "phase" lane: no background bands
    # here, only the inject / revert rules
    return _view("timeline", LANE_HEIGHT * max(len(lanes.order), 1), background[1:], layers)


def _latency_view(
    probes: Sequence[ProbeSeries], background: list[JsonDict], end: float, limit: int
) -> JsonDict:
    rows = [
        {"series": series.name, "t": _r(t), "v": round(latency * 1000, 2)}
        for series in probes
        for t, latency in peaks(series.starts, series.latencies, limit)
    ]
    title = "probe latency (ms)"
    if any(len(series.starts) > limit for series in probes):
        title += f"; a series over {limit} samples shows the highest of each bucket"
    return _line_view(title, "ms", rows, background, end, ".1f")


def _readings(
    probes: Sequence[ProbeSeries], units: dict[str, str | None], limit: int
) -> dict[str, list[JsonDict]]:
    """The measuring probes' readings (those with a unit) as rows, by unit."""
    by_unit: dict[str, list[JsonDict]] = {}
    for series in probes:
        unit = units.get(series.name)
        if series.role != "steady" or unit is None or not series.readings:
            continue
        rows = by_unit.setdefault(unit, [])
        for name, (ts, vs) in series.readings.items():
            label = series.name if name == "value" else f"{series.name} · {name}"
            rows.extend(
                {"series": label, "t": _r(t), "v": round(v, 3)} for t, v in peaks(ts, vs, limit)
            )
    return by_unit


_SERIES = {"field": "series", "type": "nominal", "title": None}
"""A line's colour: its series (a probe, a reading, a load stream)."""


def _line_view(
    title: str,
    axis_title: str,
    rows: list[JsonDict],
    background: list[JsonDict],
    end: float,
    fmt: str = ".3~f",
) -> JsonDict:
    tip = [
        {"field": "series", "title": "series"},
        {"field": "t", "title": "t (s)", "format": ".3f"},
        {"field": "v", "title": axis_title, "format": fmt},
    ]
    return _view(
        title,
        CHART_HEIGHT,
        background,
        [
            {
                "data": {"values": rows},
                "mark": {"type": "line", "strokeWidth": 1.2, "interpolate": "linear"},
                "encoding": {
                    "x": _x(end),
                    "y": {"field": "v", "type": "quantitative", "title": axis_title},
                    "color": _SERIES,
                },
            },
            {
                "data": {"values": rows},
                "mark": {"type": "point", "filled": True, "size": 14, "opacity": 0.5},
                "encoding": {
                    "x": {"field": "t", "type": "quantitative"},
                    "y": {"field": "v", "type": "quantitative"},
                    "color": _SERIES,
                    "tooltip": tip,
                },
            },
        ],
    )


def _load_rows(timeline: TimelineRecorder) -> tuple[list[JsonDict], int]:
    """A row per load window and stream, and how many windows each row holds:
    a stream with more than :data:`MAX_WINDOWS` windows has them merged, a row
    per run of consecutive ones (its counts summed, its p50 and p99 the worst
    of its windows': a bad second is never averaged away)."""
    by_stream: dict[str, list[LoadWindow]] = {}
    for window in timeline.windows:
        if window.end > window.start:
            by_stream.setdefault(window.stream, []).append(window)
    size = max([math.ceil(len(ws) / MAX_WINDOWS) for ws in by_stream.values()] or [1])
    rows = []
    for stream, windows in by_stream.items():
        for first in range(0, len(windows), size):
            rows.append(_load_row(stream, windows[first : first + size]))
    return rows, size


def _load_row(stream: str, windows: Sequence[LoadWindow]) -> JsonDict:
    start, end = windows[0].start, windows[-1].end
    failed = sum(w.failed for w in windows)
    indeterminate = sum(w.indeterminate for w in windows)
    answered = sum(w.acknowledged for w in windows) + failed + indeterminate
    p50 = [w.p50 for w in windows if w.p50 is not None]
    p99 = [w.p99 for w in windows if w.p99 is not None]
    return {
        "series": stream,
        "t": _r((start + end) / 2),
        "rate": round(answered / (end - start), 2),
        "errors": round((failed + indeterminate) / answered, 4) if answered else None,
        "p50": round(max(p50) * 1000, 2) if p50 else None,
        "p99": round(max(p99) * 1000, 2) if p99 else None,
        "sent": sum(w.sent for w in windows),
        "failed": failed,
        "indeterminate": indeterminate,
    }


def _load_tip(fmt: str, field: str) -> list[JsonDict]:
    return [
        {"field": "series", "title": "stream"},
        {"field": "t", "title": "t (s)", "format": ".1f"},
        {"field": field, "title": field, "format": fmt},
        {"field": "sent", "title": "sent"},
        {"field": "failed", "title": "failed"},
        {"field": "indeterminate", "title": "indeterminate"},
    ]


def _load_view(
    title: str, field: str, fmt: str, rows: list[JsonDict], background: list[JsonDict], end: float
) -> JsonDict:
    axis = {"format": ".0%"} if field == "errors" else None
    layer = _load_line(rows, field, fmt, end, axis=axis)
    return _view(f"load: {title}", CHART_HEIGHT, background, [layer])


def _latency_quantiles_view(
    note: str, rows: list[JsonDict], background: list[JsonDict], end: float
) -> JsonDict:
    layers = [
        _load_line(rows, field, ".1f", end, y_title="ms", dash=dash, skip_nulls=True)
        for field, dash in (("p99", []), ("p50", [3, 2]))
    ]
    title = "load: latency p99 (solid) and p50 (dashed), ms" + note
    return _view(title, CHART_HEIGHT, background, layers)


def _load_line(
    rows: list[JsonDict],
    field: str,
    fmt: str,
    end: float,
    *,
    y_title: str | None = None,
    axis: JsonDict | None = None,
    dash: list[int] | None = None,
    skip_nulls: bool = False,
) -> JsonDict:
    """One load figure of every stream as a line with a point per window, each
    point's tooltip the window's counts."""
    y: JsonDict = {"field": field, "type": "quantitative", "title": y_title}
    if axis is not None:
        y["axis"] = axis
    mark: JsonDict = {"type": "line", "strokeWidth": 1.2, "point": {"size": 14}}
    if dash is not None:
        mark["strokeDash"] = dash
    layer: JsonDict = {
        "data": {"values": rows},
        "mark": mark,
        "encoding": {
            "x": _x(end),
            "y": y,
            "color": _SERIES,
            "tooltip": _load_tip(fmt, field),
        },
    }
    if skip_nulls:
        layer["transform"] = [{"filter": f"datum.{field} != null"}]
    return layer


def _resolution(value: float | None) -> str:
    return "" if value is None else f"resolution {format_duration(value)}"


def _signed(seconds: float) -> str:
    sign = "-" if seconds < 0 else "+"
    return sign + format_duration(abs(seconds))


def _r(t: float) -> float:
    return round(t, 3)
