//! Malformed inputs made from valid ones, deterministic from a seed, for the fuzz tests of the
//! node's doors: the `phr_` methods (`node/tests/fuzz_inputs.rs`) and `/phr/blob/1` messages (the
//! unit tests of `node/src/blobs/replication.rs`, which include this file).

#![allow(dead_code)]

/// xorshift64*: fast, seedable, and the same sequence on every machine (a failure reproduces).
pub struct Rng(u64);

impl Rng {
	pub fn new(seed: u64) -> Rng {
		Rng(seed | 1)
	}

	pub fn next(&mut self) -> u64 {
		self.0 ^= self.0 >> 12;
		self.0 ^= self.0 << 25;
		self.0 ^= self.0 >> 27;
		self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
	}

	/// A number in `0..n` (`n` > 0).
	pub fn below(&mut self, n: usize) -> usize {
		(self.next() % n as u64) as usize
	}

	pub fn bytes(&mut self, len: usize) -> Vec<u8> {
		(0..len).map(|_| self.next() as u8).collect()
	}

	pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
		&items[self.below(items.len())]
	}
}

/// `valid` broken the ways encodings break: bytes flipped, cut short, bytes appended, a range
/// overwritten, a length prefix inflated (0xff bytes where a compact length may sit), or random
/// bytes of about its length. Never `valid` itself.
pub fn mutate(rng: &mut Rng, valid: &[u8]) -> Vec<u8> {
	let mut out = valid.to_vec();
	let len = out.len().max(1);
	match rng.below(6) {
		0 =>
			for _ in 0..=rng.below(4) {
				if !out.is_empty() {
					let at = rng.below(out.len());
					out[at] ^= (rng.next() as u8) | 1;
				}
			},
		1 => out.truncate(rng.below(len)),
		2 => {
			let count = 1 + rng.below(8);
			out.extend(rng.bytes(count));
		},
		3 if !out.is_empty() => {
			let start = rng.below(out.len());
			let end = (start + 1 + rng.below(16)).min(out.len());
			let noise = rng.bytes(end - start);
			out[start..end].copy_from_slice(&noise);
		},
		4 if !out.is_empty() => {
			let at = rng.below(out.len());
			let end = (at + 1 + rng.below(4)).min(out.len());
			out[at..end].fill(0xff);
		},
		_ => {
			let count = rng.below(2 * len + 1);
			out = rng.bytes(count);
		},
	}
	if out == valid {
		out.push(rng.next() as u8 | 1);
	}
	out
}

/// How many malformed inputs a fuzz test sends: `PHR_FUZZ_INPUTS`, 10^6 by default.
pub fn inputs() -> usize {
	std::env::var("PHR_FUZZ_INPUTS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000)
}
