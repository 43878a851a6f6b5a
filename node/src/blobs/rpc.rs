//! The `phr_` JSON-RPC namespace: the blob store as readers and uploaders see it.
//!
//! Every call that touches a record, uploads or reads receipts is signed: its first parameter is a
//! SCALE-encoded [`SignedBlobRequest`] (0x-hex), signed with the ed25519 request key the account
//! registered on chain (`Keys::register_keys`). Binary payloads (chunks, wrapped keys) are standard
//! base64. The node checks, in this order: the signature and the expiry (at most 10 minutes
//! ahead), that the request names this chain's genesis and THIS node's peer id (so it cannot be
//! replayed at another node or on another chain), that it was signed for this method with exactly
//! these parameters, that the key is the account's registered one at the finalized block, and the
//! nonce (each is accepted once). Then the chain's rules at the FINALIZED block: the record exists
//! and is not erased, and `AccessApi::decide` allows the account.
//!
//! Errors carry a distinct code (documented in docs/blob-store.md):
//! 4001 bad signature, 4002 expired, 4003 replayed, 4004 too large, 4005 unknown record or
//! ciphertext, 4006 not yet final, 4007 access denied (`data` holds the decision's reason),
//! 4008 erased, 4009 malformed request, 4010 unavailable (no intact copy here or at any peer),
//! 4011 busy, 4012 internal error, 4013 signed for another chain, 4014 signed for another node,
//! 4015 wrong key epoch, 4016 not allowed to read these receipts.

use std::sync::Arc;

use base64::Engine as _;
use codec::{Decode, Encode};
use jsonrpsee::{core::RpcResult, proc_macros::rpc, types::ErrorObjectOwned};
use phr_blob_store::{BlobState, StoreError, CHUNK_SIZE};
use phr_primitives::{
	receipts::{inclusion_proof, InclusionProof},
	BlobMethod, BlobSubject, CiphertextHash, Decision, Purpose, ReadReceipt, RecordId, RequestError, Right,
	SignedBlobRequest,
};
use phr_runtime::{AccountId, Hash};
use serde::{Deserialize, Serialize};
use sp_core::Bytes;

use super::{
	chain::{ChainError, ChainView, Record},
	now_ms, replication, Blobs, ReadSession, MAX_REQUEST_LIFETIME_MS, READ_SESSION_MS,
};

/// Why a `phr_` call failed; each variant is one JSON-RPC error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobRpcError {
	BadSignature(String),
	Expired,
	Replayed,
	TooLarge { size: u64, max: u64 },
	Unknown(String),
	NotFinal(RecordId),
	Denied(phr_primitives::Denial),
	Erased(String),
	Malformed(String),
	Unavailable(String),
	Busy(String),
	Internal(String),
	WrongChain,
	WrongNode,
	WrongEpoch(String),
	Forbidden(String),
	/// A member node refused a request this node relayed to it: its code and message.
	Remote { code: i32, message: String },
}

impl BlobRpcError {
	pub fn code(&self) -> i32 {
		match self {
			BlobRpcError::BadSignature(_) => 4001,
			BlobRpcError::Expired => 4002,
			BlobRpcError::Replayed => 4003,
			BlobRpcError::TooLarge { .. } => 4004,
			BlobRpcError::Unknown(_) => 4005,
			BlobRpcError::NotFinal(_) => 4006,
			BlobRpcError::Denied(_) => 4007,
			BlobRpcError::Erased(_) => 4008,
			BlobRpcError::Malformed(_) => 4009,
			BlobRpcError::Unavailable(_) => 4010,
			BlobRpcError::Busy(_) => 4011,
			BlobRpcError::Internal(_) => 4012,
			BlobRpcError::WrongChain => 4013,
			BlobRpcError::WrongNode => 4014,
			BlobRpcError::WrongEpoch(_) => 4015,
			BlobRpcError::Forbidden(_) => 4016,
			BlobRpcError::Remote { code, .. } => *code,
		}
	}

	pub fn message(&self) -> String {
		match self {
			BlobRpcError::BadSignature(why) => format!("bad signature: {why}"),
			BlobRpcError::Expired => "the request has expired: sign a new one with a later expiry".into(),
			BlobRpcError::Replayed => "this request's nonce was already used: sign a new request".into(),
			BlobRpcError::TooLarge { size, max } => format!("too large: {size} bytes; this node accepts at most {max}"),
			BlobRpcError::Unknown(what) => format!("unknown {what}"),
			BlobRpcError::NotFinal(record) =>
				format!("record {record} is registered but not final yet: retry after the next finalized block"),
			BlobRpcError::Denied(denial) => format!("access denied: {denial:?}"),
			BlobRpcError::Erased(what) => format!("{what} was erased by the patient and is never served again"),
			BlobRpcError::Malformed(why) => format!("malformed request: {why}"),
			BlobRpcError::Unavailable(why) => format!("unavailable: {why}"),
			BlobRpcError::Busy(why) => format!("busy: {why}"),
			BlobRpcError::Internal(why) => format!("internal error: {why}"),
			BlobRpcError::WrongChain =>
				"the request was signed for another chain (genesis hash): sign it for this chain".into(),
			BlobRpcError::WrongNode =>
				"the request was signed for another node (peer id): sign a new request for this node".into(),
			BlobRpcError::WrongEpoch(why) => format!("wrong key epoch: {why}"),
			BlobRpcError::Forbidden(why) => format!("not allowed: {why}"),
			BlobRpcError::Remote { message, .. } => message.clone(),
		}
	}
}

impl From<BlobRpcError> for ErrorObjectOwned {
	fn from(error: BlobRpcError) -> Self {
		let data = match &error {
			BlobRpcError::Denied(denial) => Some(format!("{denial:?}")),
			_ => None,
		};
		ErrorObjectOwned::owned(error.code(), error.message(), data)
	}
}

impl From<ChainError> for BlobRpcError {
	fn from(error: ChainError) -> Self {
		BlobRpcError::Internal(error.0)
	}
}

impl From<StoreError> for BlobRpcError {
	fn from(error: StoreError) -> Self {
		match error {
			StoreError::TooLarge { size, max } => BlobRpcError::TooLarge { size, max },
			StoreError::Replayed => BlobRpcError::Replayed,
			StoreError::Unknown(hash) => BlobRpcError::Unknown(format!("ciphertext {hash:?}")),
			StoreError::UnknownUpload(id) => BlobRpcError::Unknown(format!("upload {id:016x}")),
			StoreError::Purged(hash) => BlobRpcError::Erased(format!("ciphertext {hash:?}")),
			StoreError::TooManyUploads(_) | StoreError::TooManyUploadsOfAccount(_) | StoreError::UploadInProgress(_) =>
				BlobRpcError::Busy(error.to_string()),
			StoreError::Database(_) | StoreError::BadMetadata(_) => BlobRpcError::Internal(error.to_string()),
			StoreError::Corrupt { .. } => BlobRpcError::Unavailable(error.to_string()),
			_ => BlobRpcError::Malformed(error.to_string()),
		}
	}
}

type Result<T> = std::result::Result<T, BlobRpcError>;

/// Answer of `phr_uploadBegin`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UploadStarted {
	/// Token for `phr_uploadChunk`/`phr_uploadFinish`; absent when the ciphertext is already stored.
	pub upload: Option<String>,
	pub chunk_size: u32,
}

/// A stored ciphertext's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobStatus {
	pub hash: CiphertextHash,
	/// "pending", "pinned", "purged", "wanted" (registered, being fetched from a peer), "missing"
	/// (registered, and no member node holds it: given up), "absent",
	/// or "corrupt" (only when asked to verify).
	pub state: String,
	pub size: u64,
	pub chunks: u32,
}

/// A wrapped data key as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WrappedKeyAnswer {
	pub data_epoch: u32,
	pub recipient_epoch: u32,
	/// base64 of the HPKE-wrapped data key.
	pub wrapped: String,
}

/// Answer of `phr_fetch`.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
	/// base64 of the whole ciphertext when it is one chunk.
	pub data: Option<String>,
	/// Token for `phr_fetchChunk` when it is more than one chunk (valid 2 minutes).
	pub session: Option<String>,
}

/// Summary for `phr_storeStatus`.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
}

/// Answer of `phr_receiptBatch`: read receipts of an anchored batch, each with its proof of
/// inclusion under the batch's root on chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptBatchAnswer {
	pub batch: u64,
	/// Receipts in the whole batch (what the chain's count says).
	pub count: u32,
	/// Each a SCALE-encoded `(ReadReceipt, InclusionProof)` (0x-hex): every receipt of the batch
	/// for an auditor or a member's admin, only those about the patient's records otherwise.
	pub receipts: Vec<Bytes>,
}

#[rpc(server, namespace = "phr")]
pub trait PhrApi {
	/// Starts uploading a ciphertext of `size` bytes; the request is signed for `UploadCiphertext`
	/// with the ciphertext's blake2-256 hash as subject.
	#[method(name = "uploadBegin")]
	fn upload_begin(&self, request: Bytes, size: u64) -> RpcResult<UploadStarted>;

	/// Sends chunk `index` (base64; 1 MiB except the last) of an upload; returns bytes received.
	#[method(name = "uploadChunk")]
	fn upload_chunk(&self, upload: String, index: u32, data: String) -> RpcResult<u64>;

	/// Ends an upload: the node checks the hash and acknowledges once the bytes are durable.
	#[method(name = "uploadFinish")]
	fn upload_finish(&self, upload: String) -> RpcResult<BlobStatus>;

	/// Abandons an upload and deletes what it stored; its slot is free at once.
	#[method(name = "uploadAbort")]
	fn upload_abort(&self, upload: String) -> RpcResult<()>;

	/// Stores `record`'s data key wrapped to `recipient`; signed for `UploadWrappedKey` with these
	/// exact parameters (and the wrapped bytes' hash) by an account the chain allows to append to
	/// the record (its patient, a guardian, a granted author). `data_epoch` must be the record's key
	/// epoch on chain and `recipient_epoch` the recipient's current key epoch.
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
	/// `purpose`: "treatment" (default), "emergency" or "research:<code>".
	#[method(name = "fetch")]
	async fn fetch(&self, request: Bytes, purpose: Option<String>) -> RpcResult<FetchAnswer>;

	/// Chunk `index` of a fetch's session (base64).
	#[method(name = "fetchChunk")]
	async fn fetch_chunk(&self, session: String, index: u32) -> RpcResult<String>;

	/// The state of a ciphertext in this node's store; with `verify`, the node reads it back and
	/// checks its hash (state "corrupt" when it fails).
	#[method(name = "blobStatus")]
	fn blob_status(&self, hash: CiphertextHash, verify: Option<bool>) -> RpcResult<BlobStatus>;

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

/// One answer of `phr_releaseShares`: the released share, or why that node did not release it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseOutcome {
	pub share: Option<super::escrow::ReleasedShare>,
	pub error_code: Option<i32>,
	pub error: Option<String>,
}

/// Most release requests in one `phr_releaseShares` call (one per member node).
pub const MAX_RELEASE_REQUESTS: usize = 64;

/// The RPC handler.
pub struct PhrRpc {
	blobs: Arc<Blobs>,
}

impl PhrRpc {
	pub fn new(blobs: Arc<Blobs>) -> Self {
		PhrRpc { blobs }
	}

	fn chain(&self) -> ChainView<'_> {
		ChainView { client: &self.blobs.client }
	}
}

/// Decodes and checks a signed request for exactly `expected` (method and parameters): signature,
/// expiry, this chain, this node, registered key, nonce. Returns it with the finalized block the
/// checks used.
pub fn authenticate(
	blobs: &Blobs,
	request: &[u8],
	expected: &BlobMethod<AccountId>,
) -> Result<(SignedBlobRequest<AccountId>, Hash)> {
	let signed = SignedBlobRequest::<AccountId>::decode(&mut &request[..])
		.map_err(|e| BlobRpcError::Malformed(format!("the request is not a SCALE-encoded SignedBlobRequest: {e}")))?;
	let now = now_ms();
	signed.verify(now).map_err(|error| match error {
		RequestError::MalformedKey => BlobRpcError::BadSignature("the signer is not a valid ed25519 key".into()),
		RequestError::BadSignature => BlobRpcError::BadSignature("the signature does not match the request".into()),
		RequestError::Expired => BlobRpcError::Expired,
	})?;
	let chain = ChainView { client: &blobs.client };
	if signed.request.genesis != chain.genesis() {
		return Err(BlobRpcError::WrongChain);
	}
	if signed.request.node[..] != blobs.local_peer[..] {
		return Err(BlobRpcError::WrongNode);
	}
	if signed.request.method != *expected {
		return Err(BlobRpcError::Malformed(if signed.request.method.name() == expected.name() {
			format!("the request was signed for {:?}, not for these parameters ({expected:?})", signed.request.method)
		} else {
			format!("the request was signed for {}, not {}", signed.request.method.name(), expected.name())
		}));
	}
	if signed.request.expires_at_ms > now.saturating_add(MAX_REQUEST_LIFETIME_MS) {
		return Err(BlobRpcError::Malformed("the request expires more than 10 minutes from now".into()));
	}
	let at = chain.finalized();
	let key = chain.current_key(at, &signed.request.account)?.ok_or_else(|| {
		BlobRpcError::BadSignature("the account has no request key registered at the finalized block".into())
	})?;
	if key.keys.request_signing != signed.signer {
		return Err(BlobRpcError::BadSignature(
			"the signer is not the account's registered request key at the finalized block".into(),
		));
	}
	blobs.store.use_nonce(&signed.signer, &signed.request.nonce, signed.request.expires_at_ms)?;
	Ok((signed, at))
}

/// The record `id` at the finalized block `at`, or the error that explains its absence.
pub fn final_record(chain: &ChainView<'_>, at: Hash, id: RecordId) -> Result<Record> {
	match chain.record(at, id)? {
		Some(record) if record.is_erased() => Err(BlobRpcError::Erased(format!("record {id}"))),
		Some(record) => Ok(record),
		None if chain.record(chain.best(), id)?.is_some() => Err(BlobRpcError::NotFinal(id)),
		None => Err(BlobRpcError::Unknown(format!("record {id}"))),
	}
}

/// The record a request is about.
pub fn record_subject(signed: &SignedBlobRequest<AccountId>) -> Result<RecordId> {
	match signed.request.subject {
		BlobSubject::Record(id) => Ok(id),
		_ => Err(BlobRpcError::Malformed("the request's subject must be a record".into())),
	}
}

impl PhrRpc {
	fn upload_id(token: &str) -> Result<u64> {
		u64::from_str_radix(token, 16).map_err(|_| BlobRpcError::Malformed(format!("'{token}' is not an upload token")))
	}

	fn status_of(&self, hash: CiphertextHash) -> Result<BlobStatus> {
		let (state, size, chunks) = match self.blobs.store.meta(&hash)? {
			Some(meta) => {
				let state = match meta.state {
					BlobState::Pending { .. } => "pending",
					BlobState::Pinned => "pinned",
					BlobState::Purged { .. } => "purged",
				};
				(state, meta.size, meta.chunks())
			},
			None => match self.blobs.store.wanted()?.iter().find(|(wanted, _)| *wanted == hash) {
				Some((_, wanted)) if wanted.missing => ("missing", 0, 0),
				Some(_) => ("wanted", 0, 0),
				None => ("absent", 0, 0),
			},
		};
		Ok(BlobStatus { hash, state: state.into(), size, chunks })
	}

	/// Reads chunk `index` of a registered ciphertext; a missing or corrupt local copy is fetched
	/// from a member node first.
	async fn read_chunk(&self, hash: CiphertextHash, index: u32) -> Result<Vec<u8>> {
		match self.blobs.store.read_chunk(&hash, index) {
			Ok(bytes) => return Ok(bytes),
			Err(StoreError::Corrupt { .. }) => {
				log::warn!(target: "phr::blobs", "local copy of {hash:?} is corrupt; fetching it again from a member node");
				self.blobs.store.discard_corrupt(&hash)?;
			},
			Err(StoreError::Unknown(_)) => {},
			Err(error) => return Err(error.into()),
		}
		replication::fetch_from_peers(&self.blobs, hash)
			.await
			.map_err(|why| BlobRpcError::Unavailable(format!("no intact copy of {hash:?} here, and none from a peer: {why}")))?;
		Ok(self.blobs.store.read_chunk(&hash, index)?)
	}

	async fn do_fetch(&self, request: Bytes, purpose: Option<String>) -> Result<FetchAnswer> {
		let purpose = parse_purpose(purpose.as_deref())?;
		let (signed, at) = authenticate(&self.blobs, &request, &BlobMethod::Fetch { purpose })?;
		let id = record_subject(&signed)?;
		let record = final_record(&self.chain(), at, id)?;
		let reader = &signed.request.account;
		let basis = match self.chain().decide(at, reader, id, Right::Read, purpose)? {
			Decision::Allowed(basis) => basis,
			Decision::Denied(denial) => return Err(BlobRpcError::Denied(denial)),
		};
		let hash = record.ciphertext_hash;
		let first = self.read_chunk(hash, 0).await?;
		let meta = self.blobs.store.meta(&hash)?.ok_or_else(|| BlobRpcError::Unknown(format!("ciphertext {hash:?}")))?;
		let recipient: [u8; 32] = *AsRef::<[u8; 32]>::as_ref(reader);
		let local = match self.blobs.store.wrapped_key(id, &recipient) {
			Ok(key) => Some(key),
			Err(StoreError::NoWrappedKey) => None,
			Err(error) => return Err(error.into()),
		};
		// Wrapped keys are uploaded to one node: ask the others when this one has none for the
		// record's current data key.
		let wrapped_key = match local {
			Some(key) if key.data_epoch >= record.key_epoch => Some(key),
			stale => replication::fetch_wrapped_key(&self.blobs, at, id, reader, record.key_epoch).await.or(stale),
		}
		.map(|key| WrappedKeyAnswer {
			data_epoch: key.data_epoch,
			recipient_epoch: key.recipient_epoch,
			wrapped: base64::engine::general_purpose::STANDARD.encode(key.wrapped),
		});
		// The receipt: kept before a byte leaves the node, anchored on chain in the next batch.
		self.blobs.store.append_receipt(&ReadReceipt { request: signed, basis, decided_at: at }.encode())?;
		let (data, session) = if meta.chunks() <= 1 {
			(Some(base64::engine::general_purpose::STANDARD.encode(first)), None)
		} else {
			let expires_at_ms = now_ms().saturating_add(READ_SESSION_MS);
			let token = self.blobs.open_session(ReadSession { hash, chunks: meta.chunks(), expires_at_ms });
			(None, Some(hex::encode(token)))
		};
		Ok(FetchAnswer {
			record: id,
			ciphertext_hash: hash,
			size: meta.size,
			chunks: meta.chunks(),
			chunk_size: CHUNK_SIZE as u32,
			key_epoch: record.key_epoch,
			basis: format!("{basis:?}"),
			wrapped_key,
			data,
			session,
		})
	}
}

fn parse_purpose(purpose: Option<&str>) -> Result<Purpose> {
	let text = purpose.unwrap_or("treatment");
	Purpose::from_param(text).ok_or_else(|| {
		BlobRpcError::Malformed(format!("purpose '{text}': expected 'treatment', 'emergency' or 'research:<code>'"))
	})
}

fn decode_base64(data: &str, what: &str) -> Result<Vec<u8>> {
	base64::engine::general_purpose::STANDARD
		.decode(data)
		.map_err(|e| BlobRpcError::Malformed(format!("{what} is not base64: {e}")))
}

#[jsonrpsee::core::async_trait]
impl PhrApiServer for PhrRpc {
	fn upload_begin(&self, request: Bytes, size: u64) -> RpcResult<UploadStarted> {
		let (signed, at) = authenticate(&self.blobs, &request, &BlobMethod::UploadCiphertext { size })?;
		let BlobSubject::Ciphertext(hash) = signed.request.subject else {
			return Err(BlobRpcError::Malformed("an upload's subject must be the ciphertext hash".into()).into());
		};
		if !self.chain().is_registered(at, &signed.request.account).map_err(BlobRpcError::from)? {
			return Err(BlobRpcError::BadSignature("the signer's account is not registered with the consortium".into()).into());
		}
		let owner: [u8; 32] = *signed.request.account.as_ref();
		let upload = self.blobs.store.begin_upload_by(owner, hash, size).map_err(BlobRpcError::from)?;
		Ok(UploadStarted { upload: upload.map(|id| format!("{id:016x}")), chunk_size: CHUNK_SIZE as u32 })
	}

	fn upload_chunk(&self, upload: String, index: u32, data: String) -> RpcResult<u64> {
		let id = Self::upload_id(&upload)?;
		if data.len() > CHUNK_SIZE / 3 * 4 + 8 {
			return Err(BlobRpcError::Malformed(format!("a chunk is at most {CHUNK_SIZE} bytes")).into());
		}
		let bytes = decode_base64(&data, "the chunk")?;
		let received = self.blobs.store.put_chunk(id, index, &bytes).map_err(BlobRpcError::from)?;
		Ok(received)
	}

	fn upload_finish(&self, upload: String) -> RpcResult<BlobStatus> {
		let id = Self::upload_id(&upload)?;
		let (hash, _) = self.blobs.store.finish_upload(id, now_ms()).map_err(BlobRpcError::from)?;
		// Registered (and final) before the upload came: pin at once.
		let chain = self.chain();
		if chain.record_by_hash(chain.finalized(), hash).map_err(BlobRpcError::from)?.is_some() {
			self.blobs.store.pin(&hash).map_err(BlobRpcError::from)?;
			self.blobs.store.unwant(&hash).map_err(BlobRpcError::from)?;
		}
		Ok(self.status_of(hash)?)
	}

	fn upload_abort(&self, upload: String) -> RpcResult<()> {
		let id = Self::upload_id(&upload)?;
		self.blobs.store.abort_upload(id).map_err(BlobRpcError::from)?;
		Ok(())
	}

	fn put_wrapped_key(
		&self,
		request: Bytes,
		recipient: AccountId,
		data_epoch: u32,
		recipient_epoch: u32,
		wrapped: String,
	) -> RpcResult<()> {
		let wrapped = decode_base64(&wrapped, "the wrapped key")?;
		if wrapped.is_empty() || wrapped.len() > MAX_WRAPPED_KEY_LEN {
			return Err(BlobRpcError::Malformed(format!("a wrapped key is 1 to {MAX_WRAPPED_KEY_LEN} bytes")).into());
		}
		let expected = BlobMethod::UploadWrappedKey {
			recipient: recipient.clone(),
			data_epoch,
			recipient_epoch,
			wrapped: phr_primitives::ciphertext_hash(&wrapped),
		};
		let (signed, at) = authenticate(&self.blobs, &request, &expected)?;
		let id = record_subject(&signed)?;
		check_wrapped_key_upload(&self.chain(), at, &signed, &wrapped, false)?;
		let upload = signed.encode();
		self.blobs
			.store
			.put_wrapped_key(id, recipient.as_ref(), data_epoch, recipient_epoch, &wrapped, &upload)
			.map_err(BlobRpcError::from)?;
		// Every member keeps it too: readers and escrow agents need it when this node is down.
		tokio::spawn(replication::push_wrapped_key(self.blobs.clone(), upload, wrapped));
		Ok(())
	}

	async fn fetch(&self, request: Bytes, purpose: Option<String>) -> RpcResult<FetchAnswer> {
		Ok(self.do_fetch(request, purpose).await?)
	}

	async fn fetch_chunk(&self, session: String, index: u32) -> RpcResult<String> {
		let token: [u8; 16] = hex::decode(&session)
			.ok()
			.and_then(|bytes| bytes.try_into().ok())
			.ok_or_else(|| BlobRpcError::Malformed(format!("'{session}' is not a session token")))?;
		let session = self
			.blobs
			.session(&token, now_ms())
			.ok_or(BlobRpcError::Expired)?;
		if index >= session.chunks {
			return Err(BlobRpcError::Malformed(format!("chunk {index} of {} chunks", session.chunks)).into());
		}
		let bytes = self.read_chunk(session.hash, index).await?;
		Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
	}

	fn blob_status(&self, hash: CiphertextHash, verify: Option<bool>) -> RpcResult<BlobStatus> {
		let mut status = self.status_of(hash)?;
		let stored = status.state == "pending" || status.state == "pinned";
		if verify.unwrap_or(false) && stored && !self.blobs.store.verify_blob(&hash).map_err(BlobRpcError::from)? {
			status.state = "corrupt".into();
		}
		Ok(status)
	}

	fn store_status(&self) -> RpcResult<StoreStatus> {
		let store = &self.blobs.store;
		let summary = store.summary().map_err(BlobRpcError::from)?;
		Ok(StoreStatus {
			pending: summary.pending,
			pinned: summary.pinned,
			purged: summary.purged,
			wanted: summary.wanted,
			missing: summary.missing,
			bytes: summary.bytes,
			uploads_in_progress: summary.uploads_in_progress,
			receipts: summary.receipts,
			receipts_anchored: summary.receipts_anchored,
			max_blob_size: store.config().max_blob_size,
			finalized_cursor: store.finalized_cursor().map_err(BlobRpcError::from)?,
		})
	}

	fn receipt_batch(&self, request: Bytes, batch: u64) -> RpcResult<ReceiptBatchAnswer> {
		let (signed, at) = authenticate(&self.blobs, &request, &BlobMethod::Receipts { batch })?;
		let BlobSubject::Patient(patient) = &signed.request.subject else {
			return Err(BlobRpcError::Malformed("a receipts request's subject must be a patient".into()).into());
		};
		let everything = self.chain().may_read_all_receipts(at, &signed.request.account).map_err(BlobRpcError::from)?;
		if !everything && !self.chain().may_read_receipts_of(at, &signed.request.account, patient).map_err(BlobRpcError::from)? {
			return Err(BlobRpcError::Forbidden(
				"receipts go to the patient, a guardian with the read power, an auditor or a member's admin".into(),
			)
			.into());
		}
		let store = &self.blobs.store;
		let (first, count) = store
			.anchored_batch(batch)
			.map_err(BlobRpcError::from)?
			.ok_or_else(|| BlobRpcError::Unknown(format!("batch {batch} (not anchored by this node)")))?;
		let stored = store.receipts(first, count).map_err(BlobRpcError::from)?;
		let receipts = stored
			.iter()
			.map(|bytes| {
				ReadReceipt::<AccountId>::decode(&mut &bytes[..])
					.map_err(|e| BlobRpcError::Internal(format!("a stored receipt does not decode: {e}")))
			})
			.collect::<Result<Vec<_>>>()?;
		let leaves: Vec<_> = receipts.iter().map(|r| r.receipt_hash()).collect();
		let mut owners = std::collections::BTreeMap::<RecordId, Option<AccountId>>::new();
		let mut answer = Vec::new();
		for (index, receipt) in receipts.into_iter().enumerate() {
			if !everything {
				let BlobSubject::Record(record) = receipt.request.request.subject else { continue };
				let owner = match owners.get(&record) {
					Some(owner) => owner.clone(),
					None => {
						let owner = self.chain().record(at, record).map_err(BlobRpcError::from)?.map(|r| r.patient);
						owners.insert(record, owner.clone());
						owner
					},
				};
				if owner.as_ref() != Some(patient) {
					continue;
				}
			}
			let proof: InclusionProof = inclusion_proof(&leaves, index as u32)
				.ok_or_else(|| BlobRpcError::Internal("a receipt outside its batch".into()))?;
			answer.push(Bytes((receipt, proof).encode()));
		}
		Ok(ReceiptBatchAnswer { batch, count, receipts: answer })
	}

	async fn release_shares(&self, requests: Vec<Bytes>) -> RpcResult<Vec<ReleaseOutcome>> {
		if requests.len() > MAX_RELEASE_REQUESTS {
			return Err(BlobRpcError::TooLarge { size: requests.len() as u64, max: MAX_RELEASE_REQUESTS as u64 }.into());
		}
		let outcomes = super::escrow::release_all(self.blobs.clone(), requests.into_iter().map(|r| r.0).collect()).await;
		Ok(outcomes
			.into_iter()
			.map(|outcome| match outcome {
				Ok(share) => ReleaseOutcome { share: Some(share), error_code: None, error: None },
				Err(error) => ReleaseOutcome { share: None, error_code: Some(error.code()), error: Some(error.message()) },
			})
			.collect())
	}
}

/// Most bytes of one wrapped data key (an HPKE encapsulated key and a sealed 32-byte key).
/// (80 bytes for a data key, 82 for an escrow share; the bound leaves room and fits a push.)
pub const MAX_WRAPPED_KEY_LEN: usize = 256;

/// Whether `signed` (already known to carry a valid signature for `UploadWrappedKey`) may store
/// `wrapped` at the finalized block `at`: the bytes are the ones signed, the signer is the record
/// version's patient or author (the only ones who hold its data key: nobody else may overwrite
/// its wraps or escrow shares), the data epoch is the record's key epoch on chain, and the
/// recipient epoch is the recipient's current key epoch (or, for a key relayed by a peer,
/// `relayed`, any epoch the recipient has had: a share sealed before an escrow-key rotation).
pub fn check_wrapped_key_upload(
	chain: &ChainView<'_>,
	at: Hash,
	signed: &SignedBlobRequest<AccountId>,
	wrapped: &[u8],
	relayed: bool,
) -> Result<()> {
	let BlobMethod::UploadWrappedKey { recipient, data_epoch, recipient_epoch, wrapped: signed_hash } = &signed.request.method
	else {
		return Err(BlobRpcError::Malformed("not a wrapped-key upload".into()));
	};
	if phr_primitives::ciphertext_hash(wrapped) != *signed_hash {
		return Err(BlobRpcError::BadSignature("the wrapped key's bytes are not the ones signed".into()));
	}
	let BlobSubject::Record(id) = signed.request.subject else {
		return Err(BlobRpcError::Malformed("the request's subject must be a record".into()));
	};
	let record = match chain.record(at, id)? {
		Some(record) if record.is_erased() => return Err(BlobRpcError::Erased(format!("record {id}"))),
		Some(record) => record,
		None => return Err(BlobRpcError::Unknown(format!("record {id} (at the finalized block)"))),
	};
	let uploader = &signed.request.account;
	if *uploader != record.patient && *uploader != record.author {
		return Err(BlobRpcError::Forbidden(format!(
			"only record {id}'s patient or author stores wrapped keys of it (they hold its data key)"
		)));
	}
	if *data_epoch != record.key_epoch {
		return Err(BlobRpcError::WrongEpoch(format!(
			"record {id}'s data key is at epoch {} on chain, not {data_epoch}",
			record.key_epoch
		)));
	}
	let recipient_key = chain
		.current_key(at, recipient)?
		.ok_or_else(|| BlobRpcError::Unknown(format!("keys of the recipient {recipient}: none registered")))?;
	let earlier_epoch_known = relayed &&
		*recipient_epoch < recipient_key.epoch &&
		chain.key_at(at, recipient, *recipient_epoch)?.is_some();
	if *recipient_epoch != recipient_key.epoch && !earlier_epoch_known {
		return Err(BlobRpcError::WrongEpoch(format!(
			"the recipient's key is at epoch {} on chain, not {recipient_epoch}",
			recipient_key.epoch
		)));
	}
	Ok(())
}
