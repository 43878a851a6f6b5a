//! The node's memory at rest. A consortium chain's state is small, so its caches are sized for it
//! (`TRIE_CACHE_BYTES`, `DB_CACHE_MIB`: the defaults of `--trie-cache-size` and `--db-cache`
//! here), and memory the node freed after a burst of work is handed back to the system: glibc's
//! allocator keeps freed pages in its arenas until asked (`malloc_trim`), so a validator that
//! has worked would otherwise stay at its peak. Measured by `scripts/bench.sh chain` (the resident
//! memory of the largest validator, idle after the load; docs/benchmarks.md).

use std::time::Duration;

/// The trie cache's default bound (Substrate's is 1 GiB).
pub const TRIE_CACHE_BYTES: usize = 32 * 1024 * 1024;
/// RocksDB's cache default, in MiB (Substrate's is 1,024).
pub const DB_CACHE_MIB: usize = 32;
/// How often freed memory is handed back.
const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Hands freed heap pages back to the system every `TRIM_EVERY` (glibc only; elsewhere nothing).
pub fn spawn_trim(task_manager: &sc_service::TaskManager) {
	task_manager.spawn_handle().spawn("phr-memory-trim", None, async {
		let mut every = tokio::time::interval(TRIM_EVERY);
		every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
		loop {
			every.tick().await;
			// A few milliseconds of walking the arenas, every five seconds.
			trim();
		}
	});
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
	// SAFETY: `malloc_trim` only releases free pages of the allocator's own arenas; it takes the
	// arenas' locks itself and touches no memory the program holds.
	unsafe {
		libc::malloc_trim(0);
	}
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
