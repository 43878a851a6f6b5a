//! The `phr_` JSON-RPC contract of `phr-node`, in one place: the methods (one
//! `#[rpc(client, server)]` trait), the answers, the error codes and the chunk size.
//!
//! The node implements [`PhrApiServer`]; the wallet calls the generated [`PhrApiClient`]; the
//! tests decode the same answer types. A field the node stops sending is then a decode error in
//! the client, not a silent zero, and an error is told by its [`ErrorCode`], not by its text.
//! The browser portal speaks the same JSON (`web/src/phr.ts`); docs/blob-store.md describes it.
//!
//! Signed requests are SCALE-encoded `SignedBlobRequest`s sent as 0x-hex ([`Bytes`]); binary
//! payloads are standard base64 ([`Base64`] in answers).
//!
//! Ciphertext also travels as raw bytes, over the node's binary endpoint (HTTP/1.1 beside the
//! JSON-RPC server, on the port `phr_storeStatus` names as `httpPort`): `PUT` [`UPLOAD_PATH`]`<upload>`
//! with the whole ciphertext as its body (an upload `phr_uploadBegin` started), and `GET`
//! [`SESSION_PATH`]`<session>` for the whole ciphertext of a read session `phr_fetch` opened. The
//! tokens come only from signed, checked calls; a refusal is an HTTP status with an [`HttpError`]
//! body carrying the same [`ErrorCode`].

use codec::{Decode, Encode};
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
use phr_primitives::{CiphertextHash, HospitalId, RecordId};
use serde::{Deserialize, Serialize};
pub use sp_core::{crypto::AccountId32 as AccountId, Bytes};

/// Bytes per chunk of a stored ciphertext, of an upload and of a fetch session: every chunk but
/// the last is exactly this long.
pub use phr_primitives::CHUNK_SIZE;

/// Most characters of one `phr_uploadChunk`'s base64 text (a full chunk, padded).
pub const MAX_CHUNK_BASE64_LEN: usize = CHUNK_SIZE.div_ceil(3) * 4;

/// Most bytes of one wrapped data key (an HPKE encapsulated key and a sealed 32-byte key: 80 bytes
/// for a data key, 82 for an escrow share; the bound leaves room and fits a push between nodes).
pub const MAX_WRAPPED_KEY_LEN: usize = 256;

/// Most release requests in one `phr_releaseShares` call (one per member node).
pub const MAX_RELEASE_REQUESTS: usize = 64;

/// The binary endpoint's upload path: `PUT /upload/<upload token>`, body = the whole ciphertext.
pub const UPLOAD_PATH: &str = "/upload/";

/// The binary endpoint's read path: `GET /session/<session token>`, answer = the whole ciphertext.
pub const SESSION_PATH: &str = "/session/";

/// The body of a refusal by the binary endpoint (its HTTP status says the class: 400, 404, 409,
/// 410, 413, 500, 503): the same code and message a `phr_` call would carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpError {
	pub code: i32,
	pub message: String,
}

/// Why a `phr_` call failed: each is one JSON-RPC error code (table in docs/blob-store.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorCode {
	/// The signature is wrong, or the signer is not the account's registered request key.
	BadSignature = 4001,
	/// The request has expired.
	Expired = 4002,
	/// The request's nonce was already used.
	Replayed = 4003,
	/// More bytes (or items) than the node accepts.
	TooLarge = 4004,
	/// No such record, ciphertext, upload or batch.
	Unknown = 4005,
	/// The record is registered but not final yet.
	NotFinal = 4006,
	/// The chain's rules deny the read; `data` holds the decision's reason (`NoGrant`, ...).
	Denied = 4007,
	/// The patient erased it.
	Erased = 4008,
	/// The request does not parse, or was signed for other parameters.
	Malformed = 4009,
	/// No intact copy here or at any member node.
	Unavailable = 4010,
	/// Every slot is taken (uploads, fetches): retry later.
	Busy = 4011,
	/// The node failed (its database, a chain read).
	Internal = 4012,
	/// Signed for another chain (genesis hash).
	WrongChain = 4013,
	/// Signed for another node (peer id).
	WrongNode = 4014,
	/// A key epoch that is not the one on chain.
	WrongEpoch = 4015,
	/// The signer may not do this (receipts, wrapped keys of others' records).
	Forbidden = 4016,
}

impl ErrorCode {
	const ALL: [ErrorCode; 16] = [
		ErrorCode::BadSignature,
		ErrorCode::Expired,
		ErrorCode::Replayed,
		ErrorCode::TooLarge,
		ErrorCode::Unknown,
		ErrorCode::NotFinal,
		ErrorCode::Denied,
		ErrorCode::Erased,
		ErrorCode::Malformed,
		ErrorCode::Unavailable,
		ErrorCode::Busy,
		ErrorCode::Internal,
		ErrorCode::WrongChain,
		ErrorCode::WrongNode,
		ErrorCode::WrongEpoch,
		ErrorCode::Forbidden,
	];

	/// The JSON-RPC error code.
	pub const fn code(self) -> i32 {
		self as i32
	}

	/// The `phr_` error of a JSON-RPC error code, if it is one.
	pub fn from_code(code: i32) -> Option<ErrorCode> {
		Self::ALL.into_iter().find(|known| known.code() == code)
	}
}

/// A refusal of the chain's access rules (`ErrorCode::Denied`'s `data`, such as `Expired(3)`) as a
/// sentence that says what to do; `None` for a reason this version does not know.
pub fn explain_denial(data: &str) -> Option<&'static str> {
	let name = data.trim().trim_matches('"');
	let name = name.split('(').next().unwrap_or(name);
	Some(match name {
		"UnknownRecord" => "there is no such record",
		"Erased" => "the patient erased this record",
		"Unregistered" => "this account is not registered with the consortium: ask a member hospital to onboard it",
		"NoGrant" => "no grant covers this record: ask the patient to share it with you",
		"RightNotGranted" => "the patient's grant does not include this right",
		"OutOfScope" => "the patient's grant does not cover this record",
		"Expired" => "the grant that covered this record has expired: ask the patient to renew it",
		"OutsideTimeWindow" => "the grant is limited to another time of day",
		"WrongFacility" => "the grant is limited to another facility",
		"NoEmergencyAccess" => "an emergency read needs an open break-glass opening by you for this patient",
		"EmergencyExpired" => "your break-glass opening for this patient has ended",
		"NotResearcher" => "research reads need the researcher role",
		"NoConsent" => "no live research consent of the patient covers this purpose and record",
		_ => return None,
	})
}

/// The transaction pool's "invalid transaction" error code (sc-rpc-api's `POOL_INVALID_TX`).
pub const POOL_INVALID_TX: i32 = 1010;

/// The consortium's own refusal code (`phr_primitives::tx_error`) in a pool error, read from the
/// error's `data` exactly as sc-rpc-api writes it for `InvalidTransaction::Custom(n)`:
/// `"Custom error: n"`. `None` for any other error.
pub fn pool_custom_refusal(code: i32, data: Option<&str>) -> Option<u8> {
	if code != POOL_INVALID_TX {
		return None;
	}
	data?.trim_matches('"').strip_prefix("Custom error: ")?.parse().ok()
}

/// Bytes that travel as standard base64 text.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Base64(pub Vec<u8>);

impl std::fmt::Debug for Base64 {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		write!(f, "Base64({} bytes)", self.0.len())
	}
}

impl Base64 {
	pub fn encode(bytes: &[u8]) -> String {
		use base64::Engine as _;
		base64::engine::general_purpose::STANDARD.encode(bytes)
	}

	pub fn decode(text: &str) -> Result<Vec<u8>, base64::DecodeError> {
		use base64::Engine as _;
		base64::engine::general_purpose::STANDARD.decode(text)
	}
}

impl Serialize for Base64 {
	fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
		serializer.serialize_str(&Base64::encode(&self.0))
	}
}

impl<'de> Deserialize<'de> for Base64 {
	fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
		let text = String::deserialize(deserializer)?;
		Base64::decode(&text).map(Base64).map_err(serde::de::Error::custom)
	}
}

/// Answer of `phr_uploadBegin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadStarted {
	/// Token for `phr_uploadChunk`/`phr_uploadFinish`; absent when the ciphertext is already stored.
	pub upload: Option<String>,
	pub chunk_size: u32,
}

/// Where a ciphertext stands in one node's store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredState {
	/// Uploaded, not registered on chain (yet): expires unless a registration becomes final.
	Pending,
	/// Registered and final: kept and served.
	Pinned,
	/// Erased by the patient: deleted, a tombstone kept.
	Purged,
	/// Registered, not held here: being fetched from a member node.
	Wanted,
	/// Registered, and no member node holds it: given up.
	Missing,
	/// Not known here.
	Absent,
	/// Stored, and it failed the check `verify` asked for.
	Corrupt,
}

/// A stored ciphertext's state (`phr_uploadFinish`, `phr_blobStatus`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobStatus {
	pub hash: CiphertextHash,
	pub state: StoredState,
	pub size: u64,
	pub chunks: u32,
}

/// A wrapped data key as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WrappedKeyAnswer {
	pub data_epoch: u32,
	pub recipient_epoch: u32,
	/// The HPKE-wrapped data key.
	pub wrapped: Base64,
}

/// Answer of `phr_fetch`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FetchAnswer {
	pub record: RecordId,
	pub ciphertext_hash: CiphertextHash,
	pub size: u64,
	pub chunks: u32,
	pub chunk_size: u32,
	/// Epoch of the record's data key on chain.
	pub key_epoch: u32,
	/// Why the chain allowed the read, e.g. "Owner", "Grant(3)".
	pub basis: String,
	/// The caller's wrapped data key, when one was uploaded for it.
	pub wrapped_key: Option<WrappedKeyAnswer>,
	/// The whole ciphertext when it is one chunk (and not `key_only`).
	pub data: Option<Base64>,
	/// Token for `phr_fetchChunk` when it is more than one chunk (and not `key_only`; valid 2
	/// minutes).
	pub session: Option<String>,
}

/// Summary for `phr_storeStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreStatus {
	pub pending: u64,
	pub pinned: u64,
	pub purged: u64,
	pub wanted: u64,
	/// Registered on chain, and no member node holds them: given up.
	pub missing: u64,
	pub bytes: u64,
	pub uploads_in_progress: u64,
	pub receipts: u64,
	pub receipts_anchored: u64,
	pub max_blob_size: u64,
	pub finalized_cursor: Option<u32>,
	/// The port of this node's binary endpoint (same host as its RPC), if it runs one.
	pub http_port: Option<u16>,
}

/// Answer of `phr_receiptBatch`: read receipts of an anchored batch, each with its proof of
/// inclusion under the batch's root on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptBatchAnswer {
	pub batch: u64,
	/// Receipts in the whole batch (what the chain's count says).
	pub count: u32,
	/// Each a SCALE-encoded `(ReadReceipt, InclusionProof)` (0x-hex): every receipt of the batch
	/// for an auditor or a member's admin, only those about the patient's records otherwise.
	pub receipts: Vec<Bytes>,
}

/// A share a hospital's node released to a break-glass opener.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleasedShare {
	pub hospital: HospitalId,
	/// The record's data-key epoch the share is of.
	pub data_epoch: u32,
	/// The opener's X25519 key epoch it is sealed to.
	pub recipient_epoch: u32,
	/// The HPKE-sealed share (base64 in JSON).
	#[serde(with = "base64_field")]
	pub sealed: Vec<u8>,
}

mod base64_field {
	use serde::{Deserialize, Deserializer, Serializer};

	pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
		serializer.serialize_str(&super::Base64::encode(bytes))
	}

	pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
		super::Base64::decode(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
	}
}

/// One answer of `phr_releaseShares`: the released share, or why that node did not release it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseOutcome {
	pub share: Option<ReleasedShare>,
	pub error_code: Option<i32>,
	pub error: Option<String>,
}

#[rpc(client, server, namespace = "phr")]
pub trait PhrApi {
	/// Starts uploading a ciphertext of `size` bytes; the request is signed for `UploadCiphertext`
	/// with the ciphertext's record hash (`phr_primitives::CiphertextHasher`) as subject.
	#[method(name = "uploadBegin")]
	fn upload_begin(&self, request: Bytes, size: u64) -> RpcResult<UploadStarted>;

	/// Sends chunk `index` (base64; [`CHUNK_SIZE`] bytes except the last) of an upload; returns
	/// the bytes received so far.
	#[method(name = "uploadChunk")]
	fn upload_chunk(&self, upload: String, index: u32, data: String) -> RpcResult<u64>;

	/// Ends an upload: the node checks the hash and acknowledges once the bytes are durable.
	#[method(name = "uploadFinish")]
	async fn upload_finish(&self, upload: String) -> RpcResult<BlobStatus>;

	/// Abandons an upload and deletes what it stored; its slot is free at once.
	#[method(name = "uploadAbort")]
	fn upload_abort(&self, upload: String) -> RpcResult<()>;

	/// Stores `record`'s data key wrapped to `recipient`; signed for `UploadWrappedKey` with these
	/// exact parameters (and the wrapped bytes' hash) by the record version's patient or author.
	/// `data_epoch` must be the record's key epoch on chain and `recipient_epoch` the recipient's
	/// current key epoch. `wrapped` is base64.
	#[method(name = "putWrappedKey")]
	fn put_wrapped_key(
		&self,
		request: Bytes,
		recipient: AccountId,
		data_epoch: u32,
		recipient_epoch: u32,
		wrapped: String,
	) -> RpcResult<()>;

	/// Fetches a record the caller may read; signed for `Fetch` with the record as subject.
	/// `purpose`: "treatment" (default), "emergency" or "research:<code>". With `key_only`, the
	/// answer carries the caller's wrapped key and no ciphertext (neither `data` nor a session):
	/// what a wallet needs to share or re-key a record it already holds. Either way the read is
	/// decided and receipted the same.
	#[method(name = "fetch")]
	async fn fetch(&self, request: Bytes, purpose: Option<String>, key_only: Option<bool>) -> RpcResult<FetchAnswer>;

	/// Chunk `index` of a fetch's session.
	#[method(name = "fetchChunk")]
	async fn fetch_chunk(&self, session: String, index: u32) -> RpcResult<Base64>;

	/// The state of a ciphertext in this node's store; with `verify`, the node reads it back and
	/// checks its hash (state "corrupt" when it fails).
	#[method(name = "blobStatus")]
	async fn blob_status(&self, hash: CiphertextHash, verify: Option<bool>) -> RpcResult<BlobStatus>;

	/// Counts of this node's store.
	#[method(name = "storeStatus")]
	fn store_status(&self) -> RpcResult<StoreStatus>;

	/// The receipts of an anchored batch this node served, to verify against the chain's root;
	/// signed for `Receipts { batch }` with subject `Patient(patient)`. An auditor or a member's
	/// admin gets every receipt of the batch; the patient, or a guardian of the patient with the
	/// read power, gets the receipts of the patient's records only; anyone else is refused (4016).
	#[method(name = "receiptBatch")]
	fn receipt_batch(&self, request: Bytes, batch: u64) -> RpcResult<ReceiptBatchAnswer>;

	/// Break-glass: each request, signed for `ReleaseShare { emergency }` with a record as subject
	/// and ONE member node as `node`, is served here when it names this node and relayed to the node
	/// it names otherwise. Each node releases its hospital's escrow share of the record's current
	/// data key, sealed to the signer, only under the signer's final, open emergency opening, and
	/// receipts it. One answer per request, in order.
	#[method(name = "releaseShares")]
	async fn release_shares(&self, requests: Vec<Bytes>) -> RpcResult<Vec<ReleaseOutcome>>;
}

/// What a wallet needs to check finality itself, without believing the node (`docs/verified-reads.md`).
#[rpc(client, server, namespace = "phr")]
pub trait FinalityApi {
	/// A GRANDPA warp proof from `begin`, a block of the finalized chain (the genesis, or the first
	/// block of an authority set the wallet already trusts): the header and justification of the
	/// last block of every authority set since, then the latest finalized block's, as the SCALE
	/// bytes of sc-consensus-grandpa's `WarpSyncProof` (at most 8 MiB; `is_finished` false when
	/// more remain: ask again from the last header). Refused with [`ErrorCode::Unknown`] when
	/// `begin` is not a finalized block this node holds.
	#[method(name = "finalityProof")]
	fn finality_proof(&self, begin: sp_core::H256) -> RpcResult<Bytes>;
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn error_codes_round_trip_and_are_distinct() {
		for (index, code) in ErrorCode::ALL.into_iter().enumerate() {
			assert_eq!(code.code(), 4001 + index as i32, "{code:?}");
			assert_eq!(ErrorCode::from_code(code.code()), Some(code));
		}
		assert_eq!(ErrorCode::from_code(4000), None);
		assert_eq!(ErrorCode::from_code(4017), None);
	}

	#[test]
	fn pool_refusals_are_read_from_the_data_sc_rpc_api_writes() {
		assert_eq!(pool_custom_refusal(1010, Some("Custom error: 1")), Some(1));
		assert_eq!(pool_custom_refusal(1010, Some("\"Custom error: 2\"")), Some(2));
		// Another code, another invalidity, or a message that merely mentions a custom error.
		assert_eq!(pool_custom_refusal(1012, Some("Custom error: 1")), None);
		assert_eq!(pool_custom_refusal(1010, Some("Transaction is outdated")), None);
		assert_eq!(pool_custom_refusal(1010, Some("see Custom error: 1")), None);
		assert_eq!(pool_custom_refusal(1010, Some("Custom error: 300")), None);
		assert_eq!(pool_custom_refusal(1010, None), None);
	}

	#[test]
	fn answers_keep_the_json_the_portal_reads() {
		let answer = FetchAnswer {
			record: 7,
			ciphertext_hash: CiphertextHash::repeat_byte(1),
			size: 3,
			chunks: 1,
			chunk_size: CHUNK_SIZE as u32,
			key_epoch: 2,
			basis: "Owner".into(),
			wrapped_key: Some(WrappedKeyAnswer { data_epoch: 2, recipient_epoch: 0, wrapped: Base64(vec![9; 4]) }),
			data: Some(Base64(vec![1, 2, 3])),
			session: None,
		};
		let json = serde_json::to_value(&answer).unwrap();
		assert_eq!(json["keyEpoch"], 2);
		assert_eq!(json["wrappedKey"]["dataEpoch"], 2);
		assert_eq!(json["wrappedKey"]["wrapped"], "CQkJCQ==");
		assert_eq!(json["data"], "AQID");
		assert_eq!(serde_json::from_value::<FetchAnswer>(json.clone()).unwrap(), answer);
		// A field the node no longer sends is an error, not a zero.
		let mut missing = json;
		missing["wrappedKey"].as_object_mut().unwrap().remove("dataEpoch");
		assert!(serde_json::from_value::<FetchAnswer>(missing).is_err());

		let status = BlobStatus { hash: CiphertextHash::zero(), state: StoredState::Missing, size: 0, chunks: 0 };
		assert_eq!(serde_json::to_value(&status).unwrap()["state"], "missing");
	}

	#[test]
	fn every_denial_has_a_sentence() {
		for name in [
			"UnknownRecord",
			"Erased",
			"Unregistered",
			"NoGrant",
			"RightNotGranted(1)",
			"OutOfScope(1)",
			"Expired(3)",
			"OutsideTimeWindow(1)",
			"WrongFacility(1)",
			"NoEmergencyAccess",
			"EmergencyExpired(1)",
			"NotResearcher",
			"NoConsent",
		] {
			assert!(explain_denial(name).is_some(), "{name}");
		}
		assert_eq!(explain_denial("SomethingNew"), None);
	}
}
