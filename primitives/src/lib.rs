//! # PHR primitives
//!
//! Types shared by the PHR chain's pallets, its runtime APIs, the node and the wallet, so that each of
//! them encodes and decodes exactly the same bytes. Everything here is `no_std` and SCALE-encoded.
//!
//! Nothing in this crate may ever describe a person: identities on chain are account ids (public keys)
//! and hospital numbers, attributes are short organisational codes (a department, a facility), never a
//! name or a diagnosis.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod access;
pub mod consortium;
pub mod receipts;
pub mod records;
pub mod request;
pub mod traits;

pub use access::*;
pub use consortium::*;
pub use records::*;
pub use request::*;
