//! What the machine offers: memory and cores.

/// `MemAvailable` from `/proc/meminfo`, in bytes: the kernel's estimate of
/// how much can be allocated without swapping. `None` where unknown
/// (non-Linux, or the file is unreadable or malformed).
pub fn available_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available(&text)
}

/// Parses the `MemAvailable:   123456 kB` line.
pub(crate) fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut fields = line["MemAvailable:".len()..].split_whitespace();
    let value: u64 = fields.next()?.parse().ok()?;
    let multiplier = match fields.next() {
        Some("kB") | Some("KB") | Some("kb") => 1024,
        None => 1,
        Some(_) => return None,
    };
    value.checked_mul(multiplier)
}

/// Cores this process may use (respects CPU affinity and cgroup quotas);
/// 1 if that cannot be determined.
pub fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meminfo() {
        let text =
            "MemTotal:       24576000 kB\nMemFree:         1000 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(parse_mem_available(text), Some(20_000_000 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 5 kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: lots kB\n"), None);
        assert_eq!(
            parse_mem_available("MemAvailable: 99999999999999999 kB\n"),
            None
        );
    }

    #[test]
    fn machine_facts_are_sane() {
        assert!(available_cores() >= 1);
        if cfg!(target_os = "linux") {
            let bytes = available_memory_bytes().expect("MemAvailable on Linux");
            assert!(bytes > 1 << 20);
        }
    }
}
