/**
 * Names of the runtime metrics percore publishes for every thread (and once for the process), under the names
 * prom-client uses, so dashboards built for prom-client keep working when summed over `core`. Users cannot
 * define series in these families: they are reserved like the `percore_` prefix.
 */
import { SELF_PREFIX } from "./reserved.ts"

/** Per-thread figures; every series has a `core` label (a core's slot id, or `control` for the control plane). */
export const RuntimeMetric = {
  eventLoopTime: {
    name: "nodejs_eventloop_time_seconds_total",
    help: "Time this thread's event loop spent running callbacks (state=active) or waiting for events (state=idle)"
  },
  threadCpu: {
    name: "nodejs_thread_cpu_seconds_total",
    help: "CPU time of this thread, in user and system mode (process.threadCpuUsage)"
  },
  heapUsed: { name: "nodejs_heap_size_used_bytes", help: "V8 heap in use by this thread's isolate" },
  heapTotal: { name: "nodejs_heap_size_total_bytes", help: "V8 heap allocated by this thread's isolate" },
  externalMemory: { name: "nodejs_external_memory_bytes", help: "Memory outside the V8 heap that this thread's isolate accounts for (buffers)" },
  gcDuration: { name: "nodejs_gc_duration_seconds", help: "Garbage collection pauses of this thread, by kind" },
  eventLoopDelay: { name: "nodejs_eventloop_delay_seconds", help: "How late this thread's event loop ran a timer beyond its due time" }
} as const

/** Process-wide figures, published once by the control plane (no `core` label). */
export const ProcessMetric = {
  cpuUser: { name: "process_cpu_user_seconds_total", help: "Total user CPU time spent in seconds." },
  cpuSystem: { name: "process_cpu_system_seconds_total", help: "Total system CPU time spent in seconds." },
  cpu: { name: "process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds." },
  residentMemory: { name: "process_resident_memory_bytes", help: "Resident memory size in bytes." },
  startTime: { name: "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds." },
  openFds: { name: "process_open_fds", help: "Number of open file descriptors." },
  maxFds: { name: "process_max_fds", help: "Maximum number of open file descriptors." },
  versionInfo: { name: "nodejs_version_info", help: "Node.js version info." }
} as const

/** Family names (counters without `_total`, as definitions store them) that only percore defines. */
const runtimeFamilies: ReadonlySet<string> = new Set(
  [...Object.values(RuntimeMetric), ...Object.values(ProcessMetric)].map(({ name }) => name.endsWith("_total") ? name.slice(0, -6) : name)
)

/** True for a family name only percore may define: `percore_*` and the runtime metrics' names. */
export const isReservedFamily = (familyName: string): boolean =>
  familyName.startsWith(SELF_PREFIX) || runtimeFamilies.has(familyName)
