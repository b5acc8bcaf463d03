//! The server's cost: CPU seconds and resident memory, from its Prometheus `/metrics` (the
//! `sfu_process_*` collectors) or from `/proc/<pid>` for a local process.

use serde::Serialize;

/// Bound on one `/metrics` scrape.
const SCRAPE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, 100 on Linux).
const CLK_TCK: f64 = 100.0;

/// One reading of the server's counters.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CostSample {
    /// CPU seconds (user + system) since the process started.
    pub cpu_seconds: Option<f64>,
    /// Resident memory now.
    pub rss_bytes: Option<u64>,
    /// Peak resident memory (`VmHWM`, /proc only).
    pub peak_rss_bytes: Option<u64>,
    /// RTP packets the server forwarded (`sfu_rtp_forwarded_total`).
    pub forwarded: Option<u64>,
    /// RTP packets the server received from publishers (`sfu_rtp_in_total`).
    pub rtp_in: Option<u64>,
}

/// Where cost readings come from.
#[derive(Debug, Clone)]
pub struct CostProbe {
    metrics_url: Option<String>,
    pid: Option<u32>,
    http: reqwest::Client,
}

impl CostProbe {
    /// A probe reading `metrics_url` and/or `/proc/<pid>`.
    pub fn new(metrics_url: Option<String>, pid: Option<u32>, http: reqwest::Client) -> Self {
        CostProbe {
            metrics_url,
            pid,
            http,
        }
    }

    /// Where the figures come from, for the report.
    pub fn source(&self) -> &'static str {
        match (self.pid, &self.metrics_url) {
            (Some(_), Some(_)) => "proc+metrics",
            (Some(_), None) => "proc",
            (None, Some(_)) => "metrics",
            (None, None) => "none",
        }
    }

    /// Takes one reading (fields stay None where no source answers).
    pub async fn sample(&self) -> CostSample {
        let mut s = CostSample::default();
        if let Some(url) = &self.metrics_url
            // Short: a busy server answers late, and the run's clock must not wait on it.
            && let Ok(resp) = self.http.get(url).timeout(SCRAPE_TIMEOUT).send().await
            && let Ok(text) = resp.text().await
        {
            s.cpu_seconds = metric(&text, "sfu_process_cpu_seconds_total");
            s.rss_bytes = metric(&text, "sfu_process_resident_memory_bytes").map(|v| v as u64);
            s.forwarded = metric(&text, "sfu_rtp_forwarded_total").map(|v| v as u64);
            s.rtp_in = metric(&text, "sfu_rtp_in_total").map(|v| v as u64);
        }
        if let Some(pid) = self.pid {
            // /proc is finer than the collector (ticks, not seconds rounded by the scrape).
            if let Some(cpu) = proc_cpu_seconds(pid) {
                s.cpu_seconds = Some(cpu);
            }
            let (rss, hwm) = proc_memory(pid);
            s.rss_bytes = rss.or(s.rss_bytes);
            s.peak_rss_bytes = hwm;
        }
        s
    }
}

/// The value of an unlabelled sample `name` in a Prometheus text exposition.
pub fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        let value = rest.strip_prefix(' ')?;
        value.split_whitespace().next()?.parse().ok()
    })
}

/// User + system CPU seconds of a process.
pub fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3 of stat(5), utime 14 and stime 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLK_TCK)
}

/// Current and peak resident memory of a process (`VmRSS`, `VmHWM`).
pub fn proc_memory(pid: u32) -> (Option<u64>, Option<u64>) {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return (None, None);
    };
    let kb = |key: &str| {
        status.lines().find_map(|l| {
            let v = l.strip_prefix(key)?.trim().strip_suffix("kB")?.trim();
            v.parse::<u64>().ok().map(|k| k * 1024)
        })
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_reads_unlabelled_samples_only() {
        let text = "# HELP x\nsfu_rtp_forwarded_total 1234\nsfu_rtp_forwarded_total_x 9\n\
                    sfu_process_cpu_seconds_total 1.5\n";
        assert_eq!(metric(text, "sfu_rtp_forwarded_total"), Some(1234.0));
        assert_eq!(metric(text, "sfu_process_cpu_seconds_total"), Some(1.5));
        assert_eq!(metric(text, "sfu_missing"), None);
    }

    #[test]
    fn proc_reads_this_process() {
        let pid = std::process::id();
        assert!(proc_cpu_seconds(pid).is_some());
        let (rss, hwm) = proc_memory(pid);
        assert!(rss.unwrap() > 0);
        assert!(hwm.unwrap() >= rss.unwrap());
    }
}
