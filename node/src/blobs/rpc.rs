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

use codec::{Decode, Encode};
use jsonrpsee::{core::RpcResult, types::ErrorObjectOwned};
use phr_blob_store::{BlobState, StoreError};
use phr_primitives::{
	receipts::{inclusion_proof, InclusionProof},
	BlobMethod, BlobSubject, CiphertextHash, Decision, Purpose, ReadReceipt, RecordId, RequestError, Right,
	SignedBlobRequest,
};
use phr_rpc_api::{
	Base64, BlobStatus, ErrorCode, FetchAnswer, PhrApiServer, ReceiptBatchAnswer, ReleaseOutcome, StoreStatus,
	StoredState, UploadStarted, WrappedKeyAnswer, CHUNK_SIZE, MAX_CHUNK_BASE64_LEN, MAX_RELEASE_REQUESTS,
	MAX_WRAPPED_KEY_LEN,
};
use phr_runtime::{AccountId, Hash};
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
		let code = match self {
			BlobRpcError::BadSignature(_) => ErrorCode::BadSignature,
			BlobRpcError::Expired => ErrorCode::Expired,
			BlobRpcError::Replayed => ErrorCode::Replayed,
			BlobRpcError::TooLarge { .. } => ErrorCode::TooLarge,
			BlobRpcError::Unknown(_) => ErrorCode::Unknown,
			BlobRpcError::NotFinal(_) => ErrorCode::NotFinal,
			BlobRpcError::Denied(_) => ErrorCode::Denied,
			BlobRpcError::Erased(_) => ErrorCode::Erased,
			BlobRpcError::Malformed(_) => ErrorCode::Malformed,
			BlobRpcError::Unavailable(_) => ErrorCode::Unavailable,
			BlobRpcError::Busy(_) => ErrorCode::Busy,
			BlobRpcError::Internal(_) => ErrorCode::Internal,
			BlobRpcError::WrongChain => ErrorCode::WrongChain,
			BlobRpcError::WrongNode => ErrorCode::WrongNode,
			BlobRpcError::WrongEpoch(_) => ErrorCode::WrongEpoch,
			BlobRpcError::Forbidden(_) => ErrorCode::Forbidden,
			BlobRpcError::Remote { code, .. } => return *code,
		};
		code.code()
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

impl std::fmt::Display for BlobRpcError {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		write!(f, "{} ({})", self.message(), self.code())
	}
}

impl std::error::Error for BlobRpcError {}

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
			StoreError::TooManyUploads(_) |
			StoreError::TooManyUploadsOfAccount(_) |
			StoreError::TooMuchPendingOfAccount { .. } |
			StoreError::UploadInProgress(_) => BlobRpcError::Busy(error.to_string()),
			StoreError::Database(_) | StoreError::BadMetadata(_) | StoreError::Files(_) => {
				BlobRpcError::Internal(error.to_string())
			},
			StoreError::Corrupt { .. } => BlobRpcError::Unavailable(error.to_string()),
			_ => BlobRpcError::Malformed(error.to_string()),
		}
	}
}

type Result<T> = std::result::Result<T, BlobRpcError>;

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
	let signed = super::decode_signed(request)
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

/// Ends upload `id` (JSON-RPC or binary endpoint): its hash checked and its bytes made durable,
/// pinned at once when its registration is already final. The synced write waits for the disk:
/// not on the threads that answer every other call.
pub async fn finish_upload(blobs: &Arc<Blobs>, id: u64) -> Result<BlobStatus> {
	let store = blobs.store.clone();
	let (hash, _) = off_rpc_threads(move || store.finish_upload(id, now_ms()).map_err(BlobRpcError::from)).await?;
	let chain = ChainView { client: &blobs.client };
	if chain.record_by_hash(chain.finalized(), hash)?.is_some() {
		blobs.store.pin(&hash)?;
		blobs.store.unwant(&hash)?;
	}
	status_of(blobs, hash)
}

/// What this node's store says of `hash`.
pub fn status_of(blobs: &Blobs, hash: CiphertextHash) -> Result<BlobStatus> {
	let (state, size, chunks) = match blobs.store.meta(&hash)? {
		Some(meta) => {
			let state = match meta.state {
				BlobState::Pending { .. } => StoredState::Pending,
				BlobState::Pinned => StoredState::Pinned,
				BlobState::Purged { .. } => StoredState::Purged,
			};
			(state, meta.size, meta.chunks())
		},
		None => match blobs.store.wanted()?.iter().find(|(wanted, _)| *wanted == hash) {
			Some((_, wanted)) if wanted.missing => (StoredState::Missing, 0, 0),
			Some(_) => (StoredState::Wanted, 0, 0),
			None => (StoredState::Absent, 0, 0),
		},
	};
	Ok(BlobStatus { hash, state, size, chunks })
}

/// An upload token exactly as `phr_uploadBegin` hands it out: 16 lowercase hex digits (no sign,
/// no other case: one id has one spelling).
pub fn upload_id(token: &str) -> Result<u64> {
	lower_hex::<8>(token)
		.map(u64::from_be_bytes)
		.ok_or_else(|| BlobRpcError::Malformed(format!("'{token:.40}' is not an upload token")))
}

/// A read session's token exactly as `phr_fetch` hands it out: 32 lowercase hex digits.
pub fn session_token(token: &str) -> Result<[u8; 16]> {
	lower_hex::<16>(token).ok_or_else(|| BlobRpcError::Malformed(format!("'{token:.40}' is not a session token")))
}

fn lower_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
	let canonical = text.len() == 2 * N && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
	canonical.then(|| hex::decode(text).ok()?.try_into().ok()).flatten()
}

impl PhrRpc {

	async fn do_fetch(&self, request: Bytes, purpose: Option<String>, key_only: bool) -> Result<FetchAnswer> {
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
		// The ciphertext is read (and fetched from a peer when missing here) unless only the key
		// is asked for.
		let (first, size, chunks) = if key_only {
			(None, record.size, record.size.div_ceil(CHUNK_SIZE as u64) as u32)
		} else {
			let first = self.blobs.read_chunk(hash, 0).await?;
			let meta = self.blobs.store.meta(&hash)?.ok_or_else(|| BlobRpcError::Unknown(format!("ciphertext {hash:?}")))?;
			(Some(first), meta.size, meta.chunks())
		};
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
			wrapped: Base64(key.wrapped),
		});
		// The receipt: kept before a byte leaves the node, anchored on chain in the next batch.
		self.blobs.store.append_receipt(&ReadReceipt { request: signed, basis, decided_at: at }.encode())?;
		let (data, session) = match first {
			None => (None, None),
			Some(first) if chunks <= 1 => (Some(Base64(first)), None),
			Some(_) => {
				let expires_at_ms = now_ms().saturating_add(READ_SESSION_MS);
				let token = self.blobs.open_session(ReadSession { hash, chunks, expires_at_ms });
				(None, Some(hex::encode(token)))
			},
		};
		Ok(FetchAnswer {
			record: id,
			ciphertext_hash: hash,
			size,
			chunks,
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
	Base64::decode(data).map_err(|e| BlobRpcError::Malformed(format!("{what} is not base64: {e}")))
}

/// Runs `work` (a pass over a whole ciphertext) on tokio's blocking pool, so that the RPC server's
/// threads go on answering other calls meanwhile.
async fn off_rpc_threads<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
	tokio::task::spawn_blocking(work)
		.await
		.map_err(|e| BlobRpcError::Internal(format!("a store check stopped: {e}")))?
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
		let id = upload_id(&upload)?;
		if data.len() > MAX_CHUNK_BASE64_LEN {
			return Err(BlobRpcError::Malformed(format!("a chunk is at most {CHUNK_SIZE} bytes")).into());
		}
		let bytes = decode_base64(&data, "the chunk")?;
		let received = self.blobs.store.put_chunk(id, index, &bytes).map_err(BlobRpcError::from)?;
		Ok(received)
	}

	async fn upload_finish(&self, upload: String) -> RpcResult<BlobStatus> {
		let id = upload_id(&upload)?;
		Ok(finish_upload(&self.blobs, id).await?)
	}

	fn upload_abort(&self, upload: String) -> RpcResult<()> {
		let id = upload_id(&upload)?;
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
			wrapped: phr_primitives::wrapped_key_hash(&wrapped),
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

	async fn fetch(&self, request: Bytes, purpose: Option<String>, key_only: Option<bool>) -> RpcResult<FetchAnswer> {
		Ok(self.do_fetch(request, purpose, key_only.unwrap_or(false)).await?)
	}

	async fn fetch_chunk(&self, session: String, index: u32) -> RpcResult<Base64> {
		let token = session_token(&session)?;
		let session = self
			.blobs
			.session(&token, now_ms())
			.ok_or(BlobRpcError::Expired)?;
		if index >= session.chunks {
			return Err(BlobRpcError::Malformed(format!("chunk {index} of {} chunks", session.chunks)).into());
		}
		Ok(Base64(self.blobs.read_chunk(session.hash, index).await?))
	}

	async fn blob_status(&self, hash: CiphertextHash, verify: Option<bool>) -> RpcResult<BlobStatus> {
		let mut status = status_of(&self.blobs, hash)?;
		let stored = matches!(status.state, StoredState::Pending | StoredState::Pinned);
		if verify.unwrap_or(false) && stored {
			let store = self.blobs.store.clone();
			if !off_rpc_threads(move || store.verify_blob(&hash).map_err(BlobRpcError::from)).await? {
				status.state = StoredState::Corrupt;
			}
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
			http_port: self.blobs.http_port,
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
	if phr_primitives::wrapped_key_hash(wrapped) != *signed_hash {
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
