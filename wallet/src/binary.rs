//! The node's binary endpoint, as the wallet uses it: ciphertext as raw bytes over HTTP/1.1
//! (`PUT /upload/<token>`, `GET /session/<token>`) instead of base64 in JSON-RPC. The tokens come
//! from the signed `phr_uploadBegin` and `phr_fetch` calls; nothing here is trusted further than
//! the JSON-RPC answers are (the fetched bytes are checked against the chain's hash).

use std::{
	io::{Read, Write},
	pin::Pin,
	task::{Context, Poll},
};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::{
	body::{Frame, SizeHint},
	header, Request, StatusCode,
};
use hyper_util::rt::TokioIo;
use phr_rpc_api::{BlobStatus, HttpError, CHUNK_SIZE, SESSION_PATH, UPLOAD_PATH};

use crate::error::{Result, WalletError};

/// A node's binary endpoint: `host:port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint(pub String);

impl Endpoint {
	/// The endpoint on the host of the node's RPC `url`, at `port`. Only for plain `http://` RPC
	/// addresses: behind TLS (or a proxy) the wallet cannot know where the port is reachable, and
	/// keeps to JSON-RPC.
	pub fn beside(url: &str, port: u16) -> Option<Endpoint> {
		let rest = url.strip_prefix("http://")?;
		let authority = rest.split(['/', '?']).next()?;
		let host = match authority.rsplit_once(':') {
			Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
			_ => authority,
		};
		(!host.is_empty() && !host.contains('@')).then(|| Endpoint(format!("{host}:{port}")))
	}

	/// Whether a TCP connection to it opens within 2 s.
	pub fn reachable(&self) -> bool {
		use std::net::ToSocketAddrs;
		let Some(addr) = self.0.to_socket_addrs().ok().and_then(|mut addrs| addrs.next()) else { return false };
		std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).is_ok()
	}
}

/// An upload's body: a file read one chunk at a time, as hyper asks for it.
struct FileBody<R, F> {
	reader: R,
	left: u64,
	sent: F,
}

impl<R: Read + Unpin, F: FnMut(u64) + Unpin> hyper::body::Body for FileBody<R, F> {
	type Data = Bytes;
	type Error = std::io::Error;

	fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<std::io::Result<Frame<Bytes>>>> {
		let this = self.get_mut();
		if this.left == 0 {
			return Poll::Ready(None);
		}
		// A local file read: short enough to do right here, on the wallet's one thread.
		let mut chunk = vec![0u8; this.left.min(CHUNK_SIZE as u64) as usize];
		if let Err(error) = this.reader.read_exact(&mut chunk) {
			return Poll::Ready(Some(Err(error)));
		}
		this.left -= chunk.len() as u64;
		(this.sent)(chunk.len() as u64);
		Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
	}

	fn is_end_stream(&self) -> bool {
		self.left == 0
	}

	fn size_hint(&self) -> SizeHint {
		SizeHint::with_exact(self.left)
	}
}

fn unreachable(endpoint: &Endpoint, error: impl std::fmt::Display) -> WalletError {
	WalletError::Unreachable { url: format!("http://{}", endpoint.0), reason: error.to_string() }
}

async fn send<B>(endpoint: &Endpoint, request: Request<B>) -> Result<hyper::Response<hyper::body::Incoming>>
where
	B: hyper::body::Body + Send + 'static,
	B::Data: Send,
	B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
	let stream = tokio::net::TcpStream::connect(&endpoint.0).await.map_err(|e| unreachable(endpoint, e))?;
	let _ = stream.set_nodelay(true);
	let (mut sender, connection) =
		hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| unreachable(endpoint, e))?;
	tokio::spawn(connection);
	sender.send_request(request).await.map_err(|e| unreachable(endpoint, e))
}

/// A refusal by the endpoint, as the wallet reports refusals of `phr_` calls.
async fn refusal(what: &str, response: hyper::Response<hyper::body::Incoming>) -> WalletError {
	let status = response.status();
	let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
	match serde_json::from_slice::<HttpError>(&body) {
		Ok(error) => WalletError::Rpc { method: what.into(), code: error.code, message: error.message },
		Err(_) => WalletError::Rpc { method: what.into(), code: status.as_u16() as i32, message: format!("HTTP {status}") },
	}
}

/// `PUT /upload/<upload>` with the `size` bytes `reader` yields; `sent` hears of each chunk sent.
pub async fn put(
	endpoint: &Endpoint,
	upload: &str,
	reader: impl Read + Unpin + Send + 'static,
	size: u64,
	sent: impl FnMut(u64) + Unpin + Send + 'static,
) -> Result<BlobStatus> {
	let request = Request::put(format!("{UPLOAD_PATH}{upload}"))
		.header(header::HOST, &endpoint.0)
		.header(header::CONTENT_TYPE, "application/octet-stream")
		.header(header::CONTENT_LENGTH, size)
		.body(FileBody { reader, left: size, sent })
		.map_err(|e| WalletError::Usage(format!("cannot build the upload request: {e}")))?;
	let response = send(endpoint, request).await?;
	if response.status() != StatusCode::OK {
		return Err(refusal("PUT /upload", response).await);
	}
	let body = response.into_body().collect().await.map_err(|e| unreachable(endpoint, e))?.to_bytes();
	serde_json::from_slice(&body).map_err(|e| WalletError::Corrupt(format!("the node's upload answer does not decode ({e}): update the wallet")))
}

/// `GET /session/<session>`: the whole ciphertext into `sink`, which must come to exactly `size`
/// bytes (a body cut short is an error, never a record); `received` hears of each piece.
pub async fn get(endpoint: &Endpoint, session: &str, size: u64, sink: &mut impl Write, mut received: impl FnMut(u64)) -> Result<()> {
	let request = Request::get(format!("{SESSION_PATH}{session}"))
		.header(header::HOST, &endpoint.0)
		.body(http_body_util::Empty::<Bytes>::new())
		.map_err(|e| WalletError::Usage(format!("cannot build the read request: {e}")))?;
	let response = send(endpoint, request).await?;
	if response.status() != StatusCode::OK {
		return Err(refusal("GET /session", response).await);
	}
	let mut body = response.into_body();
	let mut got = 0u64;
	while let Some(frame) = body.frame().await {
		let frame = frame.map_err(|e| WalletError::Corrupt(format!("the node's answer broke off after {got} of {size} bytes: {e}")))?;
		if let Ok(data) = frame.into_data() {
			got += data.len() as u64;
			if got > size {
				return Err(WalletError::Corrupt(format!("the node sent more than the record's {size} bytes")));
			}
			sink.write_all(&data)?;
			received(data.len() as u64);
		}
	}
	if got != size {
		return Err(WalletError::Corrupt(format!("the node sent {got} of the record's {size} bytes: try again, or another node")));
	}
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn the_endpoint_sits_on_the_rpc_host_and_only_beside_plain_http() {
		let at = |url| Endpoint::beside(url, 9955).map(|e| e.0);
		assert_eq!(at("http://127.0.0.1:9944"), Some("127.0.0.1:9955".into()));
		assert_eq!(at("http://h1.example.org:9944/rpc"), Some("h1.example.org:9955".into()));
		assert_eq!(at("http://h1.example.org"), Some("h1.example.org:9955".into()));
		assert_eq!(at("http://[::1]:9944"), Some("[::1]:9955".into()));
		assert_eq!(at("https://h1.example.org"), None);
		assert_eq!(at("http://user@h1:9944"), None);
		assert_eq!(at("ws://127.0.0.1:9944"), None);
	}
}
