//! The binary endpoint: ciphertext as raw bytes over HTTP/1.1, beside the JSON-RPC server.
//!
//! JSON-RPC carries the signed, checked calls (`phr_uploadBegin`, `phr_fetch`); what they hand out
//! (an upload token, a read session) is the capability this endpoint takes, so it adds no second
//! way in: nothing is stored or served here that a checked call did not open.
//! - `PUT /upload/<upload>`: the body is the whole ciphertext; it is written chunk by chunk as it
//!   arrives, hashed once on the way (`phr-blob-store`), and acknowledged durably before the answer
//!   (a [`BlobStatus`], as `phr_uploadFinish` answers). A body that breaks off, goes silent for
//!   [`BODY_IDLE`], is longer or shorter than announced, or does not hash to the announced hash
//!   aborts the upload: nothing of it stays.
//! - `GET /session/<session>`: the whole ciphertext of a read session, streamed chunk by chunk
//!   (`Content-Length` is the size). A chunk that cannot be read intact here or from a member node
//!   cuts the stream short, so a reader never takes a partial or altered body for the record.
//! - `OPTIONS`: CORS preflight. Every answer allows any origin: the endpoint takes no cookies or
//!   credentials, only the tokens in its paths, so a page can do nothing here that it could not do
//!   with the token in hand.
//!
//! Refusals are an HTTP status with a JSON [`HttpError`] body carrying the `phr_` error code. At
//! most [`MAX_CONNECTIONS`] connections are served at once; a client that does not send its
//! request head within [`HEAD_TIMEOUT`] is dropped.

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full, StreamBody};
use hyper::{
	body::{Frame, Incoming},
	header, Method, Request, Response, StatusCode,
};
use hyper_util::rt::{TokioIo, TokioTimer};
use phr_blob_store::CHUNK_SIZE;
use phr_rpc_api::{BlobStatus, ErrorCode, HttpError, SESSION_PATH, UPLOAD_PATH};

use super::{
	now_ms,
	rpc::{session_token, upload_id, BlobRpcError},
	Blobs,
};

/// Connections served at once; more are accepted and closed at once.
pub const MAX_CONNECTIONS: usize = 256;
/// A request head must arrive within this.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// An upload body that sends nothing for this long is abandoned.
pub const BODY_IDLE: Duration = Duration::from_secs(60);
/// The body of a refused request is read to its end (so that the connection, and the requests
/// pipelined after it, go on) when it is at most this long and arrives within [`DRAIN_WITHIN`];
/// a longer one ends the connection instead, so a refusal never costs more than this to read.
pub const DRAIN_AT_MOST: usize = 64 * 1024;
/// See [`DRAIN_AT_MOST`].
pub const DRAIN_WITHIN: Duration = Duration::from_secs(1);

type Body = BoxBody<Bytes, BlobRpcError>;

/// Binds the endpoint's listener (so that a port in use is an error at start, not later).
pub fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
	let listener = std::net::TcpListener::bind(addr)?;
	listener.set_nonblocking(true)?;
	Ok(listener)
}

/// Serves the endpoint on `listener` until the node stops.
pub async fn serve(blobs: Arc<Blobs>, listener: std::net::TcpListener) {
	let listener = match tokio::net::TcpListener::from_std(listener) {
		Ok(listener) => listener,
		Err(error) => {
			log::error!(target: "phr::blobs", "the binary endpoint cannot listen: {error}");
			return;
		},
	};
	let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
	loop {
		let (stream, _) = match listener.accept().await {
			Ok(accepted) => accepted,
			Err(error) => {
				// Out of file descriptors and the like: wait, do not spin.
				log::warn!(target: "phr::blobs", "the binary endpoint could not accept a connection: {error}");
				tokio::time::sleep(Duration::from_millis(100)).await;
				continue;
			},
		};
		let Ok(slot) = slots.clone().try_acquire_owned() else {
			drop(stream);
			continue;
		};
		let _ = stream.set_nodelay(true);
		let blobs = blobs.clone();
		tokio::spawn(async move {
			let service = hyper::service::service_fn(move |request| answer(blobs.clone(), request));
			let connection = hyper::server::conn::http1::Builder::new()
				.timer(TokioTimer::new())
				.header_read_timeout(HEAD_TIMEOUT)
				.serve_connection(TokioIo::new(stream), service);
			// A client that sends garbage or goes away ends its own connection, nothing else.
			let _ = connection.await;
			drop(slot);
		});
	}
}

/// One request's answer; every refusal is an answer too, never an error of the connection.
async fn answer(blobs: Arc<Blobs>, request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
	let path = request.uri().path().to_string();
	let method = request.method().clone();
	let (parts, body) = request.into_parts();
	let (response, unread) = match (&method, route(&path)) {
		// One spelling per request: the endpoint takes no query.
		(_, Some(_)) if parts.uri.query().is_some() => (
			Err(Refusal(StatusCode::BAD_REQUEST, BlobRpcError::Malformed("the binary endpoint takes no query".into()))),
			Some(body),
		),
		(&Method::OPTIONS, _) => (Ok(with_cors(Response::builder().status(StatusCode::NO_CONTENT), empty())), Some(body)),
		(&Method::PUT, Some(Route::Upload(token))) => {
			let token = token.to_string();
			let (status, unread) = upload(&blobs, &token, &parts.headers, body).await;
			(status.map(|status| json(StatusCode::OK, &status)), unread)
		},
		(&Method::GET, Some(Route::Session(token))) => (download(&blobs, token), Some(body)),
		(_, Some(_)) => (Err(Refusal::method(&method)), Some(body)),
		(_, None) => (Err(Refusal(StatusCode::NOT_FOUND, BlobRpcError::Unknown(format!("endpoint {path:.80}")))), Some(body)),
	};
	if let Some(body) = unread {
		drain(body).await;
	}
	Ok(response.unwrap_or_else(|refusal| refusal.response()))
}

/// Reads a body nobody wants to its end, if it is short and prompt ([`DRAIN_AT_MOST`]); else
/// leaves it, and hyper ends the connection after the answer. (Hyper itself keeps a connection
/// only when such a body is already in its buffer: a pipelining client whose refused body was
/// still on its way lost every request behind it, 12% of the fuzz test's.)
async fn drain(mut body: Incoming) {
	use hyper::body::Body as _;
	if body.is_end_stream() || body.size_hint().lower() > DRAIN_AT_MOST as u64 {
		return;
	}
	let _ = tokio::time::timeout(DRAIN_WITHIN, async {
		let mut read = 0usize;
		while let Some(Ok(frame)) = body.frame().await {
			read += frame.data_ref().map_or(0, |data| data.len());
			if read > DRAIN_AT_MOST {
				return;
			}
		}
	})
	.await;
}

/// The two paths the endpoint serves.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
	Upload(&'a str),
	Session(&'a str),
}

fn route(path: &str) -> Option<Route<'_>> {
	if let Some(token) = path.strip_prefix(UPLOAD_PATH) {
		return Some(Route::Upload(token));
	}
	path.strip_prefix(SESSION_PATH).map(Route::Session)
}

/// A refusal: its HTTP status and the `phr_` error it carries.
struct Refusal(StatusCode, BlobRpcError);

impl Refusal {
	fn method(method: &Method) -> Refusal {
		Refusal(
			StatusCode::METHOD_NOT_ALLOWED,
			BlobRpcError::Malformed(format!("{method:.16} is not served here: PUT an upload, GET a session")),
		)
	}

	fn response(self) -> Response<Body> {
		let Refusal(status, error) = self;
		json(status, &HttpError { code: error.code(), message: error.message() })
	}
}

impl From<BlobRpcError> for Refusal {
	fn from(error: BlobRpcError) -> Refusal {
		let status = match ErrorCode::from_code(error.code()) {
			Some(ErrorCode::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
			Some(ErrorCode::Unknown) => StatusCode::NOT_FOUND,
			Some(ErrorCode::Expired | ErrorCode::Erased) => StatusCode::GONE,
			Some(ErrorCode::Busy | ErrorCode::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
			Some(ErrorCode::Internal) => StatusCode::INTERNAL_SERVER_ERROR,
			Some(ErrorCode::Denied | ErrorCode::Forbidden) => StatusCode::FORBIDDEN,
			Some(ErrorCode::Replayed) => StatusCode::CONFLICT,
			_ => StatusCode::BAD_REQUEST,
		};
		Refusal(status, error)
	}
}

impl From<phr_blob_store::StoreError> for Refusal {
	fn from(error: phr_blob_store::StoreError) -> Refusal {
		BlobRpcError::from(error).into()
	}
}

fn with_cors(builder: hyper::http::response::Builder, body: Body) -> Response<Body> {
	builder
		.header(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")
		.header(header::ACCESS_CONTROL_ALLOW_METHODS, "GET, PUT, OPTIONS")
		.header(header::ACCESS_CONTROL_ALLOW_HEADERS, "content-type")
		.header(header::ACCESS_CONTROL_EXPOSE_HEADERS, "content-length")
		.header(header::ACCESS_CONTROL_MAX_AGE, "600")
		.header(header::CACHE_CONTROL, "no-store")
		.body(body)
		.expect("static headers are valid")
}

fn empty() -> Body {
	Empty::new().map_err(|never| match never {}).boxed()
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
	let text = serde_json::to_vec(value).expect("answers serialize");
	let body = Full::new(Bytes::from(text)).map_err(|never| match never {}).boxed();
	with_cors(Response::builder().status(status).header(header::CONTENT_TYPE, "application/json"), body)
}

/// `PUT /upload/<token>`: the whole body into the store, then the durable acknowledgement. Any
/// failure aborts the upload, so that nothing half-sent stays or holds a slot. Returns the body
/// when it was refused before any of it was read.
async fn upload(
	blobs: &Arc<Blobs>,
	token: &str,
	headers: &hyper::HeaderMap,
	body: Incoming,
) -> (Result<BlobStatus, Refusal>, Option<Incoming>) {
	let checked = (|| {
		let id = upload_id(token)?;
		let (size, received) = blobs.store.upload_progress(id)?;
		if received != 0 {
			return Err(BlobRpcError::Malformed("this upload already received bytes: begin a new one".into()).into());
		}
		let announced = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
		if let Some(length) = announced.filter(|length| *length != size) {
			let _ = blobs.store.abort_upload(id);
			return Err(Refusal(
				StatusCode::BAD_REQUEST,
				BlobRpcError::Malformed(format!("the body has {length} bytes, the upload announced {size}")),
			));
		}
		Ok(id)
	})();
	let id = match checked {
		Ok(id) => id,
		Err(refusal) => return (Err(refusal), Some(body)),
	};
	if let Err(refusal) = receive(blobs, id, body).await {
		let _ = blobs.store.abort_upload(id);
		return (Err(refusal), None);
	}
	(super::rpc::finish_upload(blobs, id).await.map_err(Refusal::from), None)
}

/// Writes the body's bytes as chunks, each handed to a blocking thread while the next one arrives.
async fn receive(blobs: &Arc<Blobs>, id: u64, mut body: Incoming) -> Result<(), Refusal> {
	let mut chunk = Vec::with_capacity(CHUNK_SIZE);
	let mut index = 0u32;
	let mut writing: Option<tokio::task::JoinHandle<Result<u64, phr_blob_store::StoreError>>> = None;
	loop {
		let frame = match tokio::time::timeout(BODY_IDLE, body.frame()).await {
			Err(_) => return Err(BlobRpcError::Malformed(format!("the body sent nothing for {} s", BODY_IDLE.as_secs())).into()),
			Ok(None) => break,
			Ok(Some(Err(error))) => return Err(BlobRpcError::Malformed(format!("the body broke off: {error}")).into()),
			Ok(Some(Ok(frame))) => frame,
		};
		let Ok(mut data) = frame.into_data() else { continue };
		while !data.is_empty() {
			let take = (CHUNK_SIZE - chunk.len()).min(data.len());
			chunk.extend_from_slice(&data.split_to(take));
			if chunk.len() == CHUNK_SIZE {
				let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_SIZE));
				if let Some(previous) = writing.take() {
					joined(previous.await)?;
				}
				let store = blobs.store.clone();
				let at = index;
				writing = Some(tokio::task::spawn_blocking(move || store.put_chunk(id, at, &full)));
				index += 1;
			}
		}
	}
	if let Some(previous) = writing.take() {
		joined(previous.await)?;
	}
	if !chunk.is_empty() {
		let store = blobs.store.clone();
		joined(tokio::task::spawn_blocking(move || store.put_chunk(id, index, &chunk)).await)?;
	}
	Ok(())
}

fn joined<T>(
	result: Result<Result<T, phr_blob_store::StoreError>, tokio::task::JoinError>,
) -> Result<T, Refusal> {
	result.map_err(|e| Refusal::from(BlobRpcError::Internal(format!("a chunk write stopped: {e}"))))?.map_err(Refusal::from)
}

/// `GET /session/<token>`: the session's whole ciphertext, chunk after chunk.
fn download(blobs: &Arc<Blobs>, token: &str) -> Result<Response<Body>, Refusal> {
	let token = session_token(token)?;
	let session = blobs.session(&token, now_ms()).ok_or(BlobRpcError::Expired)?;
	let meta = blobs.store.meta(&session.hash)?.ok_or_else(|| BlobRpcError::Unknown(format!("ciphertext {:?}", session.hash)))?;
	// Two chunks in flight at most: a slow reader holds back the reading, not the node's memory.
	let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BlobRpcError>>(2);
	let blobs = blobs.clone();
	let hash = session.hash;
	tokio::spawn(async move {
		for index in 0..session.chunks {
			let next = blobs.read_chunk(hash, index).await.map(|chunk| Frame::data(Bytes::from(chunk)));
			let failed = next.is_err();
			if sender.send(next).await.is_err() || failed {
				return;
			}
		}
	});
	let stream = futures::stream::poll_fn(move |context| receiver.poll_recv(context));
	let body = StreamBody::new(stream).boxed();
	Ok(with_cors(
		Response::builder()
			.status(StatusCode::OK)
			.header(header::CONTENT_TYPE, "application/octet-stream")
			.header(header::CONTENT_LENGTH, meta.size),
		body,
	))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn routes_and_tokens_are_read_strictly() {
		assert_eq!(route("/upload/00ff00ff00ff00ff"), Some(Route::Upload("00ff00ff00ff00ff")));
		assert_eq!(route("/session/abc"), Some(Route::Session("abc")));
		assert_eq!(route("/uploads/1"), None);
		assert_eq!(route("/"), None);
		assert_eq!(upload_id("00ff00ff00ff00ff").ok(), Some(0x00ff00ff00ff00ff));
		// One spelling per token: no sign, no upper case, no other length.
		for bad in ["", "ff", "+0ff00ff00ff00ff", "00ff00ff00ff00fg", "00ff00ff00ff00ff0", "00FF00ff00ff00ff"] {
			assert!(upload_id(bad).is_err(), "{bad}");
		}
		assert_eq!(session_token(&"ab".repeat(16)).ok(), Some([0xab; 16]));
		assert!(session_token(&"AB".repeat(16)).is_err());
	}

	#[test]
	fn refusals_keep_their_code_and_get_a_fitting_status() {
		for (error, status) in [
			(BlobRpcError::TooLarge { size: 2, max: 1 }, StatusCode::PAYLOAD_TOO_LARGE),
			(BlobRpcError::Unknown("x".into()), StatusCode::NOT_FOUND),
			(BlobRpcError::Expired, StatusCode::GONE),
			(BlobRpcError::Busy("x".into()), StatusCode::SERVICE_UNAVAILABLE),
			(BlobRpcError::Malformed("x".into()), StatusCode::BAD_REQUEST),
		] {
			let code = error.code();
			let Refusal(got, error) = Refusal::from(error);
			assert_eq!((got, error.code()), (status, code));
		}
	}
}
