//! The process's own figures under the names every Prometheus client
//! library uses (`process_*`), read from `/proc/self` at each scrape as
//! Prometheus's `procfs` reads them. Elsewhere than Linux there is no
//! `/proc`, and these families are left out.

/// Clock ticks per second of `/proc`'s times: `USER_HZ`, 100 on every
/// architecture Linux runs on today (Prometheus's `procfs` assumes it too).
const USER_HZ: f64 = 100.0;

/// What `/proc/self` says now; a figure that could not be read is `None`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Process {
    pub cpu_seconds: Option<f64>,
    pub start_time_seconds: Option<f64>,
    pub resident_memory_bytes: Option<u64>,
    pub virtual_memory_bytes: Option<u64>,
    pub threads: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
}

impl Process {
    pub fn read() -> Self {
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let stat = stat.as_deref().and_then(stat_fields);
        let field = |n: usize| stat.as_ref().and_then(|f| f.get(n)).and_then(|v| v.parse::<u64>().ok());
        let boot_time = std::fs::read_to_string("/proc/stat").ok().and_then(|s| boot_time(&s));
        let status = std::fs::read_to_string("/proc/self/status").ok();
        Self {
            // Fields as proc(5) numbers them, from 1: utime 14, stime 15,
            // num_threads 20, starttime 22, vsize 23.
            cpu_seconds: field(14).zip(field(15)).map(|(u, s)| (u + s) as f64 / USER_HZ),
            start_time_seconds: field(22)
                .zip(boot_time)
                .map(|(ticks, boot)| boot as f64 + ticks as f64 / USER_HZ),
            resident_memory_bytes: status.as_deref().and_then(resident_bytes),
            virtual_memory_bytes: field(23),
            threads: field(20),
            open_fds: std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count() as u64),
            max_fds: std::fs::read_to_string("/proc/self/limits").ok().and_then(|s| max_open_files(&s)),
        }
    }
}

/// `/proc/self/stat`'s fields, numbered from 1 as proc(5) numbers them
/// (index 0 is empty). The second field, the command, is in parentheses
/// and may hold spaces and parentheses itself: the fields after it start
/// after its *last* `)`.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let (head, rest) = stat.rsplit_once(')')?;
    let pid = head.split_once(' ')?.0;
    Some(["", pid, "(comm)"].into_iter().chain(rest.split_ascii_whitespace()).collect())
}

/// `btime` of `/proc/stat`: when the machine booted, in Unix seconds.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()
}

/// `VmRSS` of `/proc/self/status`, which counts in kB.
fn resident_bytes(status: &str) -> Option<u64> {
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    kb.checked_mul(1024)
}

/// The soft limit of `Max open files` in `/proc/self/limits`.
fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find_map(|l| l.strip_prefix("Max open files"))?;
    line.split_ascii_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_numbered_as_proc_numbers_them_whatever_the_command() {
        let stat =
            "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 12345 999424 321";
        let fields = stat_fields(stat).unwrap();
        assert_eq!(fields[1], "4242");
        assert_eq!(fields[3], "S");
        assert_eq!((fields[14], fields[15]), ("250", "50"));
        assert_eq!(fields[20], "7");
        assert_eq!((fields[22], fields[23]), ("12345", "999424"));
    }

    #[test]
    fn status_limits_and_boot_time_are_read() {
        assert_eq!(resident_bytes("Name:\tportcullis\nVmRSS:\t   20480 kB\nThreads:\t7\n"), Some(20_971_520));
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 1048576              files     \n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"), Some(1_700_000_000));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_read_on_linux() {
        let p = Process::read();
        assert!(p.resident_memory_bytes.is_some_and(|b| b > 0), "{p:?}");
        assert!(p.threads.is_some_and(|t| t >= 1), "{p:?}");
        assert!(p.open_fds.is_some_and(|n| n >= 1), "{p:?}");
        assert!(p.max_fds.is_some(), "{p:?}");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let started = p.start_time_seconds.unwrap();
        assert!(started <= now + 1.0 && started > now - 86_400.0 * 365.0, "{started} vs {now}");
        assert!(p.cpu_seconds.is_some(), "{p:?}");
    }
}
