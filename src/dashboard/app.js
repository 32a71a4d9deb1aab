// percore dashboard: polls api/snapshot once a second and draws it. Everything is computed on the server
// (rates, quantiles, top-N); this script only formats numbers and keeps a few uPlot charts up to date.
"use strict";
(() => {
  const POLL_MS = 1000
  const TOP = 20
  const colors = { blue: "#58a6ff", green: "#3fb950", red: "#f85149", orange: "#d29922", purple: "#bc8cff", muted: "#8b949e", grid: "#21262d" }

  const $ = (id) => document.getElementById(id)
  const el = (tag, className, text) => {
    const node = document.createElement(tag)
    if (className) node.className = className
    if (text !== undefined) node.textContent = text
    return node
  }

  // ---------------------------------------------------------------------------------------------------
  // Formatting

  const si = (x, digits = 3) => {
    if (x === null || x === undefined || !Number.isFinite(x)) return "–"
    const a = Math.abs(x)
    const units = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]
    for (const [scale, unit] of units) if (a >= scale) return `${(x / scale).toPrecision(digits)}${unit}`
    if (a === 0) return "0"
    if (a >= 100) return x.toFixed(0)
    return Number(x.toPrecision(digits)).toString()
  }
  const count = (x) => (x === null || x === undefined || !Number.isFinite(x) ? "–" : Math.round(x).toLocaleString("en-US"))
  const rate = (x) => si(x)
  const bytes = (x) => {
    if (x === null || x === undefined || !Number.isFinite(x)) return "–"
    const units = ["B", "KiB", "MiB", "GiB", "TiB"]
    let i = 0
    while (Math.abs(x) >= 1024 && i < units.length - 1) { x /= 1024; i++ }
    return `${x.toFixed(i === 0 ? 0 : 1)} ${units[i]}`
  }
  const seconds = (x) => {
    if (x === null || x === undefined || !Number.isFinite(x)) return "–"
    const a = Math.abs(x)
    if (a === 0) return "0"
    if (a < 1e-6) return `${(x * 1e9).toPrecision(3)} ns`
    if (a < 1e-3) return `${(x * 1e6).toPrecision(3)} µs`
    if (a < 1) return `${(x * 1e3).toPrecision(3)} ms`
    return `${x.toPrecision(3)} s`
  }
  const millis = (x) => (x === null || x === undefined || !Number.isFinite(x) ? "–" : seconds(x / 1000))
  const percent = (x) => (Number.isFinite(x) ? `${(x * 100).toFixed(x > 0 && x < 0.001 ? 3 : 1)}%` : "–")
  const duration = (ms) => {
    const s = Math.max(0, Math.floor(ms / 1000))
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60
    return h > 0 ? `${h}h ${m}m` : m > 0 ? `${m}m ${r}s` : `${r}s`
  }
  const clock = (ms) => new Date(ms).toLocaleTimeString("en-GB", { hour12: false })
  /** A histogram value, in seconds when the family says so. */
  const quantileFormat = (name) => (/_seconds$/.test(name) ? seconds : /_bytes$/.test(name) ? bytes : (x) => si(x))

  // ---------------------------------------------------------------------------------------------------
  // Charts (uPlot)

  const axis = (values) => ({
    stroke: colors.muted,
    grid: { stroke: colors.grid, width: 1 },
    ticks: { stroke: colors.grid, width: 1, size: 3 },
    font: "10px system-ui, sans-serif",
    size: 30,
    gap: 2,
    ...(values ? { values } : {})
  })
  const yRange = (u, min, max) => [0, max > 0 ? max * 1.15 : 1]

  /** A chart with a time axis, for the header cards. */
  const chart = (target, color, format) => {
    const width = Math.max(160, target.clientWidth)
    return new uPlot({
      width,
      height: 100,
      padding: [6, 6, 0, 0],
      cursor: { show: true, points: { show: false }, x: true, y: false, drag: { x: false, y: false } },
      select: { show: false },
      legend: { show: false },
      scales: { x: { time: true }, y: { range: yRange } },
      axes: [
        { ...axis((u, values) => values.map((v) => clock(v * 1000))), space: 70, size: 22 },
        { ...axis((u, values) => values.map(format)), size: 52 }
      ],
      series: [{}, { stroke: color, fill: color + "22", width: 1.5, points: { show: false } }]
    }, [[], []], target)
  }

  /** A small sparkline without axes, for table rows; `range` fixes its y scale (shares: [0, 1]). */
  const sparkline = (target, strokes, range = yRange) =>
    new uPlot({
      class: "spark-plot",
      width: 120,
      height: 24,
      padding: [2, 0, 2, 0],
      cursor: { show: false },
      select: { show: false },
      legend: { show: false },
      scales: { x: { time: false }, y: { range } },
      axes: [{ show: false }, { show: false }],
      series: [{}, ...strokes.map((stroke, i) => ({ stroke, width: 1.25, fill: i === 0 && strokes.length === 1 ? stroke + "22" : undefined, points: { show: false } }))]
    }, [[], ...strokes.map(() => [])], target)

  const charts = {}
  const ensureCharts = () => {
    if (charts.delivered) return
    charts.delivered = chart($("chart-delivered"), colors.green, (v) => si(v, 2))
    charts.dropped = chart($("chart-dropped"), colors.red, (v) => si(v, 2))
    charts.drain = chart($("chart-drain"), colors.orange, seconds)
    charts.heap = chart($("chart-heap"), colors.purple, bytes)
    window.addEventListener("resize", () => {
      for (const [name, plot] of Object.entries(charts)) plot.setSize({ width: Math.max(160, $(`chart-${name}`).clientWidth), height: 100 })
    })
  }

  // ---------------------------------------------------------------------------------------------------
  // Tables: rows keyed by an id, created once, updated in place and reordered (uPlot instances survive).

  const syncRows = (tbody, rows, items, keyOf, create, update, columns, emptyText) => {
    const seen = new Set()
    items.forEach((item, index) => {
      const key = keyOf(item)
      seen.add(key)
      let row = rows.get(key)
      if (!row) {
        row = create(item)
        rows.set(key, row)
      }
      update(row, item)
      if (tbody.children[index] !== row.tr) tbody.insertBefore(row.tr, tbody.children[index] || null)
    })
    for (const [key, row] of rows) {
      if (seen.has(key)) continue
      row.plot?.destroy()
      row.threadPlot?.destroy()
      row.tr.remove()
      rows.delete(key)
    }
    let empty = tbody.querySelector("tr.empty-row")
    if (items.length === 0 && !empty) {
      empty = el("tr", "empty-row")
      const td = el("td", "empty", emptyText)
      td.colSpan = columns
      empty.append(td)
      tbody.append(empty)
    } else if (items.length > 0 && empty) empty.remove()
  }

  const cells = (tr, spec) => {
    const out = {}
    for (const [name, className] of spec) {
      const td = el("td", className)
      td.dataset.col = name
      tr.append(td)
      out[name] = td
    }
    return out
  }
  const set = (td, text, title) => {
    if (td.textContent !== text) td.textContent = text
    if (title !== undefined && td.title !== title) td.title = title
  }

  const coreRows = new Map()
  const topRows = new Map()
  const histogramRows = new Map()

  const renderCores = (snap, xs) => {
    syncRows($("cores").tBodies[0], coreRows, snap.cores, (c) => String(c.core), (c) => {
      const tr = el("tr")
      tr.dataset.core = String(c.core)
      const td = cells(tr, [
        ["core", ""], ["state", ""], ["fill", ""], ["deliveredPerSecond", "num"], ["droppedPerSecond", "num"], ["delivered", "num"], ["dropped", "num"],
        ["recorded", "num"], ["spark", "spark"], ["eventLoopUtilization", "num"], ["cpu", "num"], ["heap", "num"], ["gc", "num"], ["threadSpark", "spark"]
      ])
      const state = el("span", "state")
      const saturated = el("span", "state state-saturated", "saturated")
      saturated.title = "event loop busy ≥ 90% for a minute"
      td.state.append(state, saturated)
      const wrap = el("div", "fill")
      const bar = el("div", "bar")
      const level = el("div", "level")
      const hw = el("div", "hw")
      bar.append(level, hw)
      const txt = el("span", "txt")
      wrap.append(bar, txt)
      td.fill.append(wrap)
      const threadPlot = sparkline(td.threadSpark, [colors.orange, colors.blue], () => [0, 1])
      return { tr, td, state, saturated, level, hw, txt, plot: sparkline(td.spark, [colors.green, colors.red]), threadPlot }
    }, (row, c) => {
      set(row.td.core, String(c.core))
      row.state.className = `state state-${c.state}`
      set(row.state, c.state)
      const hwRatio = c.ringCapacity > 0 ? Math.min(1, c.highWater / c.ringCapacity) : 0
      row.level.style.width = `${(c.fill * 100).toFixed(2)}%`
      row.level.style.background = c.fill > 0.75 ? colors.red : c.fill > 0.5 ? colors.orange : colors.green
      row.hw.style.left = `calc(${(hwRatio * 100).toFixed(2)}% - 1px)`
      set(row.txt, `${percent(c.fill)} · hw ${percent(hwRatio)}`, `backlog ${count(c.backlog)} of ${count(c.ringCapacity)} samples; high water ${count(c.highWater)}`)
      set(row.td.deliveredPerSecond, rate(c.deliveredPerSecond))
      set(row.td.droppedPerSecond, rate(c.droppedPerSecond))
      row.td.droppedPerSecond.classList.toggle("bad", c.droppedPerSecond > 0)
      set(row.td.delivered, count(c.delivered))
      set(row.td.dropped, count(c.dropped))
      row.td.dropped.classList.toggle("bad", c.dropped > 0)
      set(row.td.recorded, count(c.recorded))
      const h = snap.history.cores[String(c.core)]
      row.saturated.hidden = !c.saturated
      row.tr.classList.toggle("saturated", c.saturated)
      set(row.td.eventLoopUtilization, c.eventLoopUtilization === null ? "–" : percent(c.eventLoopUtilization))
      row.td.eventLoopUtilization.classList.toggle("bad", c.eventLoopUtilization !== null && c.eventLoopUtilization >= 0.9)
      set(row.td.cpu, c.cpu === null ? "–" : percent(c.cpu), "of one CPU")
      set(row.td.heap, bytes(c.heapUsedBytes))
      set(row.td.gc, c.gcSecondsPerSecond === null ? "–" : percent(c.gcSecondsPerSecond), "share of time in GC pauses")
      if (h) {
        row.plot.setData([xs, h.deliveredPerSecond, h.droppedPerSecond])
        row.threadPlot.setData([xs, h.eventLoopUtilization, h.cpu])
      }
    }, 14, "no cores")
  }

  const renderTop = (snap, xs) => {
    $("top-note").textContent = `top ${snap.top.length} of ${count(snap.controlPlane.userSeries)} by rate`
    syncRows($("top").tBodies[0], topRows, snap.top, (s) => s.key, (s) => {
      const tr = el("tr")
      tr.dataset.key = s.key
      const td = cells(tr, [["series", "series"], ["type", "dim"], ["rate", "num"], ["value", "num"], ["p50", "num"], ["p99", "num"], ["spark", "spark"]])
      const labels = Object.entries(s.labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ")
      td.series.append(document.createTextNode(s.name))
      if (labels) td.series.append(el("span", "labels", `{${labels}}`))
      td.series.title = s.key
      return { tr, td, plot: sparkline(td.spark, [colors.blue]) }
    }, (row, s) => {
      set(row.td.type, s.type)
      set(row.td.rate, rate(s.rate))
      set(row.td.value, count(s.value))
      const f = quantileFormat(s.name)
      set(row.td.p50, s.quantiles ? f(s.quantiles.p50) : "")
      set(row.td.p99, s.quantiles ? f(s.quantiles.p99) : "", s.quantiles ? "over the series' lifetime" : "")
      const h = snap.history.series[s.key]
      if (h) row.plot.setData([xs, h])
    }, 7, "no user series yet")
  }

  const renderHistograms = (snap, xs) => {
    $("hist-note").textContent = `quantiles over the last ${snap.windowSeconds} s, estimated from buckets`
    syncRows($("histograms").tBodies[0], histogramRows, snap.histograms, (h) => h.name, (h) => {
      const tr = el("tr")
      tr.dataset.name = h.name
      const td = cells(tr, [["name", "series"], ["series", "num"], ["rate", "num"], ["p50", "num"], ["p90", "num"], ["p99", "num"], ["spark", "spark"]])
      set(td.name, h.name)
      return { tr, td, plot: sparkline(td.spark, [colors.green, colors.orange, colors.red]) }
    }, (row, h) => {
      const f = quantileFormat(h.name)
      const live = h.quantiles.p50 !== null
      const q = live ? h.quantiles : h.lifetime
      const title = live ? `last ${snap.windowSeconds} s` : "nothing observed recently: lifetime quantiles"
      set(row.td.series, count(h.series))
      set(row.td.rate, rate(h.rate))
      for (const name of ["p50", "p90", "p99"]) {
        set(row.td[name], f(q[name]), title)
        row.td[name].classList.toggle("dim", !live)
      }
      const hist = snap.history.histograms[h.name]
      if (hist) row.plot.setData([xs, hist.p50, hist.p90, hist.p99])
    }, 7, "no histograms yet")
  }

  // ---------------------------------------------------------------------------------------------------
  // Polling

  const status = (text, kind) => {
    const pill = $("status")
    pill.textContent = text
    pill.className = `pill pill-${kind}`
  }

  const render = (snap) => {
    const cp = snap.controlPlane
    status(cp.ready ? "ready" : "not ready", cp.ready ? "ok" : "bad")
    set($("stat-uptime"), duration(snap.time - snap.startedAt))
    set($("stat-series"), count(cp.series))
    set($("stat-drains"), si(cp.drainsPerSecond))
    set($("stat-drain"), `${seconds(cp.drainSeconds.p50)} / ${seconds(cp.drainSeconds.p99)}`)
    set($("stat-loop"), millis(cp.eventLoopDelayMs.p99))
    set($("stat-thread"), cp.thread.eventLoopUtilization === null ? "–" : `${percent(cp.thread.eventLoopUtilization)} · ${percent(cp.thread.cpu)}`)
    $("stat-thread").classList.toggle("bad", cp.thread.saturated)
    set($("stat-heap"), bytes(cp.heapUsedBytes))
    set($("stat-rss"), bytes(cp.residentBytes))
    set($("stat-updated"), clock(snap.time))

    const h = snap.history
    const xs = h.t.map((t) => t / 1000)
    ensureCharts()
    charts.delivered.setData([xs, h.deliveredPerSecond])
    charts.dropped.setData([xs, h.droppedPerSecond])
    charts.drain.setData([xs, h.drainP99Seconds])
    charts.heap.setData([xs, h.heapUsedBytes])
    const last = (values) => (values.length > 0 ? values[values.length - 1] : null)
    set($("now-delivered"), `${rate(last(h.deliveredPerSecond))}/s`)
    set($("now-dropped"), `${rate(last(h.droppedPerSecond))}/s`)
    set($("now-drain"), seconds(last(h.drainP99Seconds)))
    set($("now-heap"), bytes(last(h.heapUsedBytes)))

    renderCores(snap, xs)
    renderTop(snap, xs)
    renderHistograms(snap, xs)
    document.body.dataset.updated = String(snap.time)
  }

  const poll = async () => {
    try {
      const response = await fetch(`api/snapshot?top=${TOP}`, { cache: "no-store", credentials: "same-origin" })
      if (response.ok) render(await response.json())
      else status(response.status === 401 ? "unauthorized" : `HTTP ${response.status}`, "bad")
    } catch {
      status("disconnected", "wait")
    }
    setTimeout(poll, POLL_MS)
  }

  poll()
})()
