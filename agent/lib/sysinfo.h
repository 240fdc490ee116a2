/*
 * sysinfo.h - the machine gauges agents add to telemetry: CPU and memory in
 * use, free disk under the cache and the SoC temperature, read from /proc
 * and /sys (Linux).  Each returns NAN when the figure is unavailable.
 */
#ifndef RAMP_AGENT_SYSINFO_H
#define RAMP_AGENT_SYSINFO_H

/* CPU ticks at the previous reading, for sysinfo_cpu_pct's delta. */
struct sysinfo_cpu {
	unsigned long long busy, total;
};

/* Percent of all CPUs busy since the previous call on prev (since boot the first time). */
double sysinfo_cpu_pct(struct sysinfo_cpu *prev);
/* Percent of memory in use: (MemTotal - MemAvailable) / MemTotal. */
double sysinfo_mem_pct(void);
/* MiB free for an unprivileged user on the file system holding path. */
double sysinfo_disk_free_mb(const char *path);
/* Degrees Celsius of thermal zone 0, NAN when the machine has none. */
double sysinfo_temperature_c(void);

#endif
