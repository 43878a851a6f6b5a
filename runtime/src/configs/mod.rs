//! Configuration of every pallet, one area per file.

mod access;
mod consensus;
mod consortium;
mod records;
mod system;

pub use access::*;
pub use consensus::*;
pub use consortium::*;
pub use records::*;
pub use system::*;
