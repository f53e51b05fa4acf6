//! The benchmark's HTTP/1.1 client. It shares the machine's cores with the server, so it is kept
//! lean: one keep-alive hyper connection per worker (no pool to lock), requests built from
//! pre-serialized bodies, and latencies kept in a plain Vec that is sorted once at the end.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HOST, HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::events::{self, Rng};

/// Where the server is and how requests authenticate: a bearer key, or the UI's session cookie.
#[derive(Clone)]
pub struct Client {
    addr: SocketAddr,
    host: HeaderValue,
    credential: (HeaderName, HeaderValue),
}

impl Client {
    pub fn with_key(addr: SocketAddr, key: &str) -> anyhow::Result<Self> {
        Ok(Self {
            addr,
            host: HeaderValue::from_str(&addr.to_string())?,
            credential: (AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {key}"))?),
        })
    }

    /// The same server, authenticated by a session cookie (`name=value`) instead of the key.
    pub fn with_cookie(&self, cookie: &str) -> anyhow::Result<Self> {
        Ok(Self { credential: (COOKIE, HeaderValue::from_str(cookie)?), ..self.clone() })
    }

    pub async fn connect(&self) -> anyhow::Result<Connection> {
        let stream = TcpStream::connect(self.addr).await.with_context(|| format!("cannot connect to {}", self.addr))?;
        // Small requests must leave at once, not wait for Nagle's algorithm.
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(Connection { sender, client: self.clone() })
    }
}

/// One request, ready to send any number of times: cloning it copies no bytes.
#[derive(Clone)]
pub struct Call {
    method: Method,
    uri: Uri,
    content_type: Option<&'static str>,
    body: Bytes,
}

impl Call {
    pub fn get(target: &str) -> anyhow::Result<Self> {
        Ok(Self { method: Method::GET, uri: target.parse()?, content_type: None, body: Bytes::new() })
    }

    pub fn post_json(target: &str, body: impl Into<Bytes>) -> anyhow::Result<Self> {
        Ok(Self {
            method: Method::POST,
            uri: target.parse()?,
            content_type: Some("application/json"),
            body: body.into(),
        })
    }

    pub fn post_form(target: &str, body: String) -> anyhow::Result<Self> {
        Ok(Self {
            method: Method::POST,
            uri: target.parse()?,
            content_type: Some("application/x-www-form-urlencoded"),
            body: body.into(),
        })
    }

    /// `POST /path` or `GET /path?query`, for error messages.
    pub fn name(&self) -> String {
        format!("{} {}", self.method, self.uri)
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    client: Client,
}

impl Connection {
    /// Whether the server has closed this connection (a new one must be opened to go on).
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Sends the call and reads the whole answer, whatever its status.
    pub async fn send(&mut self, call: &Call) -> anyhow::Result<Reply> {
        let mut request = Request::builder()
            .method(call.method.clone())
            .uri(call.uri.clone())
            .header(HOST, self.client.host.clone())
            .header(self.client.credential.0.clone(), self.client.credential.1.clone());
        if let Some(content_type) = call.content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        let request = request.body(Full::new(call.body.clone()))?;
        self.sender.ready().await.with_context(|| format!("{}: the connection closed", call.name()))?;
        let response = self.sender.send_request(request).await.with_context(|| format!("{} failed", call.name()))?;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.with_context(|| format!("{}: reading the answer", call.name()))?.to_bytes();
        Ok(Reply { status: parts.status, headers: parts.headers, body })
    }

    /// Sends the call and hands each chunk of a 2xx answer to `chunk` as it arrives, holding
    /// none of it (for answers too large to keep, such as a whole export).
    pub async fn stream(&mut self, call: &Call, mut chunk: impl FnMut(&[u8])) -> anyhow::Result<HeaderMap> {
        let request = Request::builder()
            .method(call.method.clone())
            .uri(call.uri.clone())
            .header(HOST, self.client.host.clone())
            .header(self.client.credential.0.clone(), self.client.credential.1.clone())
            .body(Full::new(call.body.clone()))?;
        self.sender.ready().await.with_context(|| format!("{}: the connection closed", call.name()))?;
        let response = self.sender.send_request(request).await.with_context(|| format!("{} failed", call.name()))?;
        let (parts, mut body) = response.into_parts();
        if !parts.status.is_success() {
            let body = body.collect().await?.to_bytes();
            bail!("{} answered {}: {}", call.name(), parts.status, String::from_utf8_lossy(&body));
        }
        while let Some(frame) = body.frame().await {
            if let Some(data) = frame.with_context(|| format!("{}: reading the answer", call.name()))?.data_ref() {
                chunk(data);
            }
        }
        Ok(parts.headers)
    }

    /// Sends the call; anything but a 2xx answer is an error that names the request.
    pub async fn call(&mut self, call: &Call) -> anyhow::Result<Bytes> {
        let reply = self.send(call).await?;
        if !reply.status.is_success() {
            bail!("{} answered {}: {}", call.name(), reply.status, String::from_utf8_lossy(&reply.body));
        }
        Ok(reply.body)
    }

    pub async fn get_json(&mut self, target: &str) -> anyhow::Result<serde_json::Value> {
        let call = Call::get(target)?;
        let body = self.call(&call).await?;
        serde_json::from_slice(&body).with_context(|| format!("{} did not answer JSON", call.name()))
    }
}

/// Where predictions are recorded (`POST`), listed (`GET`) and looked up (`GET …/{ref}`).
pub const PREDICTIONS: &str = "/api/v1/predictions";

/// Single-event `POST /api/v1/predictions` of the benchmark's events numbered `numbers`, drawn
/// from a generator seeded with `seed`.
pub fn single_event_calls(seed: u64, numbers: Range<usize>) -> anyhow::Result<Vec<Call>> {
    let mut rng = Rng::new(seed);
    numbers.map(|n| Call::post_json(PREDICTIONS, serde_json::to_vec(&events::event(&mut rng, n as u64))?)).collect()
}

/// What a run measured: every request's latency (sorted) and the wall time.
pub struct Measured {
    latencies: Vec<Duration>,
    pub wall: Duration,
}

impl Measured {
    /// The latencies in any order, and the wall time they were measured in.
    pub fn new(mut latencies: Vec<Duration>, wall: Duration) -> Self {
        latencies.sort_unstable();
        Self { latencies, wall }
    }

    /// How many requests were measured.
    pub fn count(&self) -> usize {
        self.latencies.len()
    }

    /// Requests per second of wall time.
    pub fn rate(&self) -> f64 {
        self.count() as f64 / self.wall.as_secs_f64()
    }

    /// The nearest-rank percentile, `p` in (0, 1]; at least one request must have been measured.
    pub fn percentile(&self, p: f64) -> Duration {
        let count = self.count();
        self.latencies[((p * count as f64).ceil() as usize).clamp(1, count) - 1]
    }

    /// The largest latency (zero when nothing was measured).
    pub fn max(&self) -> Duration {
        self.latencies.last().copied().unwrap_or_default()
    }
}

/// Sends prepared calls on `concurrency` connections in a closed loop (see [`run`]); `check`
/// judges each 2xx answer.
pub async fn closed_loop(
    client: &Client,
    concurrency: usize,
    calls: Vec<Call>,
    check: impl Fn(usize, &Bytes) -> anyhow::Result<()> + Send + Sync + 'static,
) -> anyhow::Result<Measured> {
    let calls = Arc::new(calls);
    let count = calls.len();
    run(client, concurrency, count, move |i| Ok(calls[i].clone()), check).await
}

/// A `check` for runs where any 2xx answer will do.
pub fn no_check(_: usize, _: &Bytes) -> anyhow::Result<()> {
    Ok(())
}

/// Sends `count` calls over `concurrency` connections, each connection sending its next call as
/// soon as the previous one is answered (a closed loop). `make(i)` gives the i-th call and
/// `check(i, body)` judges its 2xx answer; the first failure stops the run. The clock starts once
/// every connection is open.
pub async fn run<M, C>(client: &Client, concurrency: usize, count: usize, make: M, check: C) -> anyhow::Result<Measured>
where
    M: Fn(usize) -> anyhow::Result<Call> + Send + Sync + 'static,
    C: Fn(usize, &Bytes) -> anyhow::Result<()> + Send + Sync + 'static,
{
    anyhow::ensure!(count > 0 && concurrency > 0, "a run needs at least one request and one connection");
    let mut connections = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.min(count) {
        connections.push(client.connect().await?);
    }
    let work = Arc::new((make, check, AtomicUsize::new(0)));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for mut connection in connections {
        let work = work.clone();
        workers.spawn(async move {
            let (make, check, next) = &*work;
            let mut latencies = Vec::with_capacity(count / concurrency + 1);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return anyhow::Ok(latencies);
                }
                let call = make(i)?;
                let sent = Instant::now();
                let body = connection.call(&call).await?;
                latencies.push(sent.elapsed());
                check(i, &body).with_context(|| call.name())?;
            }
        });
    }
    let mut latencies = Vec::with_capacity(count);
    // Returning early drops the JoinSet, which aborts the other workers.
    while let Some(worker) = workers.join_next().await {
        latencies.extend(worker??);
    }
    Ok(Measured::new(latencies, started.elapsed()))
}
