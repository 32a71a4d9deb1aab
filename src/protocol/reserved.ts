/**
 * Names the protocol reserves for percore itself.
 */

/** Family-name prefix of percore's own metrics; users cannot define series under it. */
export const SELF_PREFIX = "percore_"

/**
 * Names and help texts of percore's own metric families. Cores and the control plane both define series
 * in some of these families, so they share one definition here (a differing help would be a conflict).
 */
export const SelfMetric = {
  invalidSamples: { name: "percore_invalid_samples_total", help: "Samples refused because their value was invalid or their series was refused" },
  seriesRefused: { name: "percore_series_refused_total", help: "Series definitions refused by a series limit or a conflicting definition" },
  ringRecorded: { name: "percore_ring_recorded_total", help: "Samples a core recorded into its ring (delivered + dropped once drained)" },
  ringDelivered: { name: "percore_ring_delivered_total", help: "Samples drained from a core's ring into the aggregate" },
  ringDropped: { name: "percore_ring_dropped_total", help: "Samples lost because a core's ring overflowed before they were drained" },
  ringHighWater: { name: "percore_ring_high_water_samples", help: "Largest backlog a drain found in a core's ring" },
  ringCapacity: { name: "percore_ring_capacity_samples", help: "Capacity of a core's ring" },
  coreUp: { name: "percore_core_up", help: "1 while a core is running, 0 after it stopped, finished or crashed" },
  coreRestarts: { name: "percore_core_restarts_total", help: "Times a crashed core was restarted" },
  threadsAttached: { name: "percore_threads_attached_total", help: "Threads that attached themselves to the control plane (any worker, pool thread or the main thread)" },
  threadsEnded: { name: "percore_threads_ended_total", help: "Attached threads that ended (their slot is free for the next one)" },
  coreCrashes: { name: "percore_core_crashes_total", help: "Times a core threw or its thread died" },
  drainDuration: { name: "percore_drain_duration_seconds", help: "Time one drain of every ring took" },
  series: { name: "percore_series", help: "Series held by the aggregate" },
  scrapesRefused: {
    name: "percore_scrapes_refused_total",
    help: "Scrapes refused or cut off: a page over PERCORE_MAX_PAGE_BYTES, or a send stalled past PERCORE_SEND_STALL_TIMEOUT"
  },
  heapUsed: { name: "percore_control_plane_heap_used_bytes", help: "V8 heap in use on the control-plane thread, read at each scrape" },
  residentMemory: { name: "percore_process_resident_memory_bytes", help: "Resident set size of the whole process, read at each scrape" }
} as const
