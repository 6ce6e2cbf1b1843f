//! How many sessions this machine lets the server hold at once, read at start from the
//! limits that would otherwise stop it mid-flight: each session is a thread (a few memory
//! mappings: `vm.max_map_count`; a task: `kernel.threads-max`, `kernel.pid_max`) and a few
//! descriptors (`RLIMIT_NOFILE`). Beyond the smallest of these the server answers 421
//! instead of failing to start a thread or to allocate, which would abort every session.

use std::fs;

/// Memory mappings one session thread costs: its stack and guard page and their neighbours,
/// 4.01 measured over 2,000 sessions (MAPS_RESERVE covers allocator arenas).
const MAPS_PER_SESSION: u64 = 4;
/// Descriptors one idle session holds: its control connection. A transfer needs one or two
/// more for a moment; when none are left it gets a 425 (and new connections wait), which
/// costs less than refusing sessions that would mostly sit idle.
const FDS_PER_SESSION: u64 = 1;
/// Kept for everything else the process does.
const MAPS_RESERVE: u64 = 512;
const FDS_RESERVE: u64 = 16;
const TASKS_RESERVE: u64 = 256;

/// The session limit the system imposes, and what imposes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    pub sessions: u64,
    pub bound_by: String,
}

/// What the limits are now (read from /proc and getrlimit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemLimits {
    pub max_map_count: u64,
    pub maps_in_use: u64,
    pub max_tasks: u64,
    pub tasks_in_use: u64,
    pub max_fds: u64,
    pub fds_in_use: u64,
}

impl SystemLimits {
    /// The limits of this process on this machine; a figure that cannot be read counts as
    /// unlimited.
    pub fn read() -> SystemLimits {
        let number = |path: &str| fs::read_to_string(path).ok().and_then(|s| s.trim().parse::<u64>().ok());
        let count_lines = |path: &str| fs::read_to_string(path).map_or(0, |s| s.lines().count() as u64);
        let threads_max = number("/proc/sys/kernel/threads-max").unwrap_or(u64::MAX);
        let pid_max = number("/proc/sys/kernel/pid_max").unwrap_or(u64::MAX);
        // The fourth field of /proc/loadavg is "running/total" tasks on the machine.
        let tasks_in_use = fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| s.split_whitespace().nth(3)?.split('/').nth(1)?.parse().ok())
            .unwrap_or(0);
        // SAFETY: all-zero bytes are a valid rlimit, filled in by getrlimit.
        let mut files: libc::rlimit = unsafe { std::mem::zeroed() };
        // SAFETY: a valid out pointer for the duration of the call.
        let max_fds =
            if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut files) } == 0 { files.rlim_cur } else { u64::MAX };
        SystemLimits {
            max_map_count: number("/proc/sys/vm/max_map_count").unwrap_or(u64::MAX),
            maps_in_use: count_lines("/proc/self/maps"),
            max_tasks: threads_max.min(pid_max),
            tasks_in_use,
            max_fds,
            fds_in_use: fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64),
        }
    }

    /// The sessions these limits allow, and the limit that binds.
    pub fn capacity(&self) -> Capacity {
        let room =
            |limit: u64, used: u64, reserve: u64, per: u64| limit.saturating_sub(used).saturating_sub(reserve) / per;
        let bounds = [
            (room(self.max_map_count, self.maps_in_use, MAPS_RESERVE, MAPS_PER_SESSION), "vm.max_map_count"),
            (room(self.max_tasks, self.tasks_in_use, TASKS_RESERVE, 1), "kernel.threads-max / pid_max"),
            (room(self.max_fds, self.fds_in_use, FDS_RESERVE, FDS_PER_SESSION), "the open-files limit (ulimit -n)"),
        ];
        let (sessions, bound_by) = bounds.into_iter().min_by_key(|(n, _)| *n).expect("three bounds");
        Capacity { sessions: sessions.max(1), bound_by: bound_by.to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> SystemLimits {
        SystemLimits {
            max_map_count: 65_530,
            maps_in_use: 100,
            max_tasks: 4_194_304,
            tasks_in_use: 300,
            max_fds: 1_048_576,
            fds_in_use: 10,
        }
    }

    #[test]
    fn the_map_count_bounds_a_machine_with_many_descriptors() {
        let capacity = limits().capacity();
        assert_eq!(capacity.sessions, (65_530 - 100 - MAPS_RESERVE) / MAPS_PER_SESSION);
        assert_eq!(capacity.bound_by, "vm.max_map_count");
    }

    #[test]
    fn a_low_open_files_limit_bounds_first() {
        let capacity = SystemLimits { max_fds: 1024, ..limits() }.capacity();
        assert_eq!(capacity.sessions, (1024 - 10 - FDS_RESERVE) / FDS_PER_SESSION);
        assert!(capacity.bound_by.contains("ulimit -n"));
    }

    #[test]
    fn there_is_always_room_for_one_session() {
        assert_eq!(SystemLimits { max_fds: 5, ..limits() }.capacity().sessions, 1);
    }

    #[test]
    fn this_machine_has_a_capacity() {
        assert!(SystemLimits::read().capacity().sessions >= 1);
    }
}
