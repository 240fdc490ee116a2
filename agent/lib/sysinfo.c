/*
 * sysinfo.c - /proc/stat, /proc/meminfo, statvfs and thermal zone readers.
 */
#include "sysinfo.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

double sysinfo_cpu_pct(struct sysinfo_cpu *prev)
{
	unsigned long long v[8] = {0}, busy, total = 0;
	double pct;
	FILE *f = fopen("/proc/stat", "r");
	int n;

	if (f == NULL)
		return NAN;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n < 4)
		return NAN;
	for (int i = 0; i < 8; i++)
		total += v[i];
	busy = total - v[3] - v[4]; /* idle and iowait */
	if (total <= prev->total)
		return NAN;
	pct = 100.0 * (double)(busy - prev->busy) / (double)(total - prev->total);
	prev->busy = busy;
	prev->total = total;
	return pct < 0 ? 0 : pct > 100 ? 100 : pct;
}

double sysinfo_mem_pct(void)
{
	char line[256];
	double total = NAN, avail = NAN, v;
	FILE *f = fopen("/proc/meminfo", "r");

	if (f == NULL)
		return NAN;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "MemTotal: %lf", &v) == 1)
			total = v;
		else if (sscanf(line, "MemAvailable: %lf", &v) == 1)
			avail = v;
	}
	fclose(f);
	if (!(total > 0) || isnan(avail))
		return NAN;
	v = 100.0 * (total - avail) / total;
	return v < 0 ? 0 : v > 100 ? 100 : v;
}

double sysinfo_disk_free_mb(const char *path)
{
	struct statvfs s;

	if (statvfs(path, &s) != 0)
		return NAN;
	return (double)s.f_bavail * (double)s.f_frsize / (1024.0 * 1024.0);
}

double sysinfo_temperature_c(void)
{
	double milli;
	FILE *f = fopen("/sys/class/thermal/thermal_zone0/temp", "r");
	int n;

	if (f == NULL)
		return NAN;
	n = fscanf(f, "%lf", &milli);
	fclose(f);
	return n == 1 ? milli / 1000.0 : NAN;
}
