//! The server: its builder, its handle, the accept loop and the request handler.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::body::MockBody;
use crate::fault::{Fault, FaultKind};
use crate::format;
use crate::limits::{Gcra, Limits};
use crate::responses::{self, ChatRequest, Planned};
use crate::state::{InProgress, Shared, SplitMix64, State};
use crate::stats::{RequestRecord, Stats};

/// The largest request body accepted (larger ones get a 413).
const MAX_BODY: usize = 4 << 20;
/// The only path served.
const PATH: &str = "/v1/chat/completions";

/// Configures and starts a [`MockLlm`]. Made by [`MockLlm::builder`].
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `start` is awaited"]
pub struct MockLlmBuilder {
    bind: SocketAddr,
    latency: Duration,
    script: Vec<Fault>,
    random: Vec<(Fault, f64)>,
    seed: u64,
    capacity: Option<f64>,
    burst: u32,
    token_capacity: Option<f64>,
    token_burst: Option<u32>,
    publish_limits: bool,
    outage: Option<Fault>,
    log_limit: usize,
}

impl Default for MockLlmBuilder {
    fn default() -> Self {
        MockLlmBuilder {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            latency: Duration::ZERO,
            script: Vec::new(),
            random: Vec::new(),
            seed: 0,
            capacity: None,
            burst: 1,
            token_capacity: None,
            token_burst: None,
            publish_limits: false,
            outage: None,
            log_limit: 100_000,
        }
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

impl MockLlmBuilder {
    /// The address to listen on. Default `127.0.0.1:0` (a free port on loopback).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Listens on this port of `127.0.0.1` (0: any free port).
    pub fn port(mut self, port: u16) -> Self {
        self.bind.set_port(port);
        self
    }

    /// The time a successful request takes to do its work before it is billed and answered
    /// (default: none). Error faults answer at once.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Appends one fault to the script (a FIFO queue: one fault per request).
    pub fn fault(mut self, fault: impl Into<Fault>) -> Self {
        self.script.push(fault.into());
        self
    }

    /// Appends faults to the script.
    pub fn script(mut self, faults: impl IntoIterator<Item = Fault>) -> Self {
        self.script.extend(faults);
        self
    }

    /// Injects `fault` at random into this fraction (`0.0..=1.0`) of the requests that the
    /// script does not decide. Rates add up (at most 1 in all); draws come from the
    /// [`seed`](Self::seed), one per request, in arrival order.
    pub fn random_fault(mut self, fault: impl Into<Fault>, rate: f64) -> Self {
        self.random.push((fault.into(), rate));
        self
    }

    /// The seed of the random faults (default 0): the same seed and the same sequence of
    /// requests give the same faults.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Limits the server to this many requests per second (a GCRA limiter, burst 1 unless
    /// [`burst`](Self::burst) says otherwise). A request over the limit gets a 429 with
    /// `retry-after-ms` (exact time until a slot frees, rounded up to the millisecond) and
    /// `Retry-After` (rounded up to whole seconds).
    pub fn capacity(mut self, requests_per_second: f64) -> Self {
        self.capacity = Some(requests_per_second);
        self
    }

    /// How many requests the capacity limiter lets through at once (default 1).
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }

    /// Limits each API key (the `Authorization` bearer; requests without one share a key) to
    /// this many tokens per second, as OpenAI's tokens-per-minute limit does: a request is
    /// charged up front its prompt's tokens (a character in four) and its `max_tokens` (or
    /// `max_completion_tokens`; 16 when it sets none). A request over the limit gets the same
    /// 429 as one over [`capacity`](Self::capacity), which is per key too.
    pub fn token_capacity(mut self, tokens_per_second: f64) -> Self {
        self.token_capacity = Some(tokens_per_second);
        self
    }

    /// How many tokens the token limit holds when full (default: one second's worth).
    pub fn token_burst(mut self, tokens: u32) -> Self {
        self.token_burst = Some(tokens);
        self
    }

    /// Every response, served or refused, tells the state of its API key's limits as OpenAI
    /// tells its own: `x-ratelimit-limit-requests` (what the [`capacity`](Self::capacity)
    /// limiter lets through at once when full), `x-ratelimit-remaining-requests` (what it would
    /// let through now) and `x-ratelimit-reset-requests` (a Go duration until it is full
    /// again), and the same three `-tokens` headers for the
    /// [`token_capacity`](Self::token_capacity). Without either, nothing is published.
    pub fn publish_limits(mut self) -> Self {
        self.publish_limits = true;
        self
    }

    /// Starts in an outage: every request that is not a replay gets `fault`, until
    /// [`MockLlm::set_outage`] ends it. The script is not consumed meanwhile.
    pub fn outage(mut self, fault: impl Into<Fault>) -> Self {
        self.outage = Some(fault.into());
        self
    }

    /// How many requests the log keeps (the oldest are dropped first; default 100 000).
    pub fn log_limit(mut self, records: usize) -> Self {
        self.log_limit = records;
        self
    }

    fn validate(&self) -> io::Result<Limits> {
        let mut total = 0.0;
        for (fault, rate) in &self.random {
            if !(0.0..=1.0).contains(rate) {
                return Err(invalid(format!(
                    "rate of random fault `{fault}` must be within 0..=1, got {rate}"
                )));
            }
            total += rate;
        }
        if total > 1.0 + 1e-9 {
            return Err(invalid(format!(
                "the random fault rates add up to {total}, more than 1"
            )));
        }
        let requests = match self.capacity {
            None => None,
            Some(rate) => {
                if !(0.001..=1e9).contains(&rate) {
                    return Err(invalid(format!(
                        "capacity must be within 0.001..=1e9 requests per second, got {rate}"
                    )));
                }
                if !(1..=1_000_000).contains(&self.burst) {
                    return Err(invalid(format!(
                        "burst must be within 1..=1000000, got {}",
                        self.burst
                    )));
                }
                Some(Gcra::new(Duration::from_secs_f64(1.0 / rate), self.burst))
            }
        };
        let tokens = match self.token_capacity {
            None => None,
            Some(rate) => {
                if !(0.001..=1e9).contains(&rate) {
                    return Err(invalid(format!(
                        "token capacity must be within 0.001..=1e9 tokens per second, got {rate}"
                    )));
                }
                // One second's worth by default, at least one token.
                let burst = self
                    .token_burst
                    .unwrap_or(rate.ceil().min(f64::from(u32::MAX)) as u32);
                if burst == 0 {
                    return Err(invalid("token burst must be at least 1".to_owned()));
                }
                Some(Gcra::new(Duration::from_secs_f64(1.0 / rate), burst))
            }
        };
        Ok(Limits::new(requests, tokens))
    }

    /// Binds the address and starts serving on the current tokio runtime.
    ///
    /// # Errors
    ///
    /// An invalid setting (rates, capacity, burst: `InvalidInput`), or the bind failing.
    pub async fn start(self) -> io::Result<MockLlm> {
        let limits = self.validate()?;
        let listener = TcpListener::bind(self.bind).await?;
        let addr = listener.local_addr()?;
        let nonce = (format::unix_now_ms() as u64)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(17) as u32
            ^ u32::from(addr.port());
        let state = State {
            script: self.script.into(),
            outage: self.outage,
            latency: self.latency,
            random: self.random,
            rng: SplitMix64::new(self.seed),
            limits,
            publish_limits: self.publish_limits,
            keys: HashMap::new(),
            stats: Stats::default(),
            log: VecDeque::new(),
            log_limit: self.log_limit,
            next_seq: 0,
        };
        let shared = Arc::new(Shared::new(state, nonce));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), stopped));
        Ok(MockLlm {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// A running fake provider. Shuts down when dropped or on [`shutdown`](Self::shutdown).
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use mock_llm::{Fault, MockLlm};
///
/// let server = MockLlm::builder()
///     .fault(Fault::retry_after_ms(300))
///     .fault(Fault::status(503))
///     .start()
///     .await?;
/// let url = format!("{}/chat/completions", server.base_url());
/// // ... POST to `url` ...
/// assert_eq!(server.stats().early_retries, 0);
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub struct MockLlm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl fmt::Debug for MockLlm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockLlm")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl MockLlm {
    /// A builder with the defaults: `127.0.0.1:0`, no latency, no faults.
    pub fn builder() -> MockLlmBuilder {
        MockLlmBuilder::default()
    }

    /// Starts a server with the defaults (every request answered 200 at once).
    ///
    /// # Errors
    ///
    /// The bind failing.
    pub async fn start() -> io::Result<MockLlm> {
        Self::builder().start().await
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL an OpenAI-compatible client takes: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The full URL of the chat completions endpoint.
    pub fn chat_completions_url(&self) -> String {
        format!("http://{}{PATH}", self.addr)
    }

    /// Appends a fault to the script.
    pub fn push(&self, fault: impl Into<Fault>) {
        self.shared.lock().script.push_back(fault.into());
    }

    /// Appends faults to the script.
    pub fn push_all(&self, faults: impl IntoIterator<Item = Fault>) {
        self.shared.lock().script.extend(faults);
    }

    /// Empties the script.
    pub fn clear_script(&self) {
        self.shared.lock().script.clear();
    }

    /// How many scripted faults are still queued.
    pub fn script_len(&self) -> usize {
        self.shared.lock().script.len()
    }

    /// Starts (`Some(fault)`) or ends (`None`) an outage: meanwhile every request that is not
    /// an idempotent replay gets `fault`, and the script is not consumed.
    pub fn set_outage(&self, fault: Option<Fault>) {
        self.shared.lock().outage = fault;
    }

    /// Changes the latency of successful requests.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.lock().latency = latency;
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats.clone()
    }

    /// The request log, oldest first (bounded by [`MockLlmBuilder::log_limit`]).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().log.iter().cloned().collect()
    }

    /// The arrival instants of the requests that carried this `Idempotency-Key`, in order.
    pub fn arrivals(&self, idempotency_key: &str) -> Vec<Instant> {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|r| r.idempotency_key.as_deref() == Some(idempotency_key))
            .map(|r| r.arrived)
            .collect()
    }

    /// The earliest instant at which the server allows this key to retry: the one named by the
    /// latest hint it sent that key (each hint supersedes the previous one), if it sent any.
    pub fn retry_not_before(&self, idempotency_key: &str) -> Option<Instant> {
        self.shared
            .lock()
            .keys
            .get(idempotency_key)
            .and_then(|k| k.not_before)
    }

    /// Stops accepting, closes every connection (requests in flight are dropped), and waits
    /// until that is done.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Serves until Ctrl-C, then shuts down and returns the final counters (for the CLI).
    ///
    /// # Errors
    ///
    /// Installing the Ctrl-C handler failed.
    pub async fn run_until_ctrl_c(self) -> io::Result<Stats> {
        tokio::signal::ctrl_c().await?;
        let stats = self.stats();
        self.shutdown().await;
        Ok(stats)
    }
}

impl Drop for MockLlm {
    fn drop(&mut self) {
        // Dropping the sender stops the accept loop, which aborts every connection.
        self.stop.take();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                // Out of file descriptors and the like: back off briefly, keep serving.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
        }
    }
    drop(listener);
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let kill = Arc::new(Notify::new());
    let service_kill = Arc::clone(&kill);
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        let kill = Arc::clone(&service_kill);
        async move { Ok::<_, Infallible>(handle(shared, kill, request).await) }
    });
    let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = connection => {}
        // A fault asked for the connection to be closed without a response.
        () = kill.notified() => {}
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn header_number(headers: &HeaderMap, name: &str) -> Option<u32> {
    header_str(headers, name).and_then(|v| v.parse().ok())
}

/// What the handler decided under the lock.
enum Decision {
    Replay(Bytes),
    Conflict,
    Capacity(Duration),
    Apply(Fault, Duration),
}

/// One request being handled.
struct Exchange {
    shared: Arc<Shared>,
    seq: u64,
    request_id: String,
    key: Option<String>,
    /// The `Authorization` bearer, whose limits apply ("" without one).
    api_key: String,
}

impl Exchange {
    /// Records the arrival (counting an early retry) and gives the request its id.
    fn arrive(shared: Arc<Shared>, headers: &HeaderMap) -> Self {
        let arrived = Instant::now();
        let key = header_str(headers, "idempotency-key")
            .filter(|k| !k.is_empty())
            .map(str::to_owned);
        let api_key = header_str(headers, "authorization")
            .map(|value| value.strip_prefix("Bearer ").unwrap_or(value))
            // Kept short: a long header must not cost the server its memory.
            .map(|value| value.chars().take(200).collect())
            .unwrap_or_default();
        let mut state = shared.lock();
        let seq = state.next_seq;
        state.next_seq += 1;
        state.stats.received += 1;
        let request_id = format!("req_{:08x}{seq:012x}", shared.nonce);
        let not_before = key
            .as_ref()
            .and_then(|k| state.keys.get(k))
            .and_then(|k| k.not_before);
        let early_by = not_before.filter(|nb| arrived < *nb).map(|nb| nb - arrived);
        if early_by.is_some() {
            state.stats.early_retries += 1;
        }
        if state.log_limit > 0 {
            if state.log.len() >= state.log_limit {
                state.log.pop_front();
            }
            let record = RequestRecord {
                seq,
                request_id: request_id.clone(),
                arrived,
                since_start: arrived - shared.started,
                idempotency_key: key.clone(),
                stainless_retry_count: header_number(headers, "x-stainless-retry-count"),
                retry_attempt: header_number(headers, "x-retry-attempt"),
                fault: None,
                status: None,
                billed: false,
                replayed: false,
                disconnected: false,
                hint: None,
                early_by,
            };
            state.log.push_back(record);
        }
        drop(state);
        Exchange {
            shared,
            seq,
            request_id,
            key,
            api_key,
        }
    }

    /// Records the response about to be sent (status, hint, fault label) and builds it.
    fn respond(
        &self,
        mut planned: Planned,
        label: &str,
        should_retry: Option<bool>,
        replayed: bool,
        cut: bool,
    ) -> Response<MockBody> {
        {
            let now = Instant::now();
            let mut state = self.shared.lock();
            state.stats.count_status(planned.status);
            if cut {
                state.stats.cut += 1;
            }
            if let (Some(hint), Some(key)) = (planned.hint, &self.key) {
                // The instant a hint allows; a hint too far to represent allows nothing.
                let allowed = hint.until.unwrap_or_else(|| {
                    now.checked_add(hint.wait)
                        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 86_400)))
                        .unwrap_or(now)
                });
                // The latest word supersedes the previous one.
                state.keys.entry(key.clone()).or_default().not_before = Some(allowed);
            }
            if let Some(record) = state.record_mut(self.seq) {
                record.fault = Some(label.to_owned());
                record.status = Some(planned.status);
                record.hint = planned.hint.map(|h| h.wait);
                record.replayed = replayed;
                record.disconnected = cut;
            }
            if state.publish_limits {
                planned
                    .headers
                    .extend(state.limits.headers(&self.api_key, now));
            }
        }
        build_response(planned, &self.request_id, should_retry, replayed, cut)
    }

    /// Records a connection closed without a response.
    fn record_disconnect(&self, label: &str) {
        let mut state = self.shared.lock();
        state.stats.disconnected += 1;
        if let Some(record) = state.record_mut(self.seq) {
            record.fault = Some(label.to_owned());
            record.disconnected = true;
        }
    }

    /// Replays, refuses, or picks the fault: outage, then capacity, then script, then random
    /// faults, then the default (200). Marks the key as in progress when work starts. The
    /// request costs `token_cost` tokens of its API key's token limit.
    fn decide(&self, token_cost: u64) -> Decision {
        let now = Instant::now();
        let mut state = self.shared.lock();
        if let Some(key) = &self.key {
            if let Some(entry) = state.keys.get(key) {
                if let Some(stored) = &entry.stored {
                    let stored = stored.clone();
                    state.stats.replayed += 1;
                    return Decision::Replay(stored);
                }
                if entry.in_progress {
                    return Decision::Conflict;
                }
            }
        }
        let fault = if let Some(outage) = &state.outage {
            outage.clone()
        } else {
            if let Err(wait) = state.limits.admit(&self.api_key, now, token_cost) {
                state.stats.capacity_rejections += 1;
                return Decision::Capacity(wait);
            }
            match state.script.pop_front() {
                Some(fault) => fault,
                None => state.draw_random().unwrap_or_else(Fault::ok),
            }
        };
        let works = matches!(
            fault.kind,
            FaultKind::Ok | FaultKind::Slow(_) | FaultKind::CutBody | FaultKind::Disconnect
        );
        if works {
            if let Some(key) = &self.key {
                state.keys.entry(key.clone()).or_default().in_progress = true;
            }
        }
        if let Some(record) = state.record_mut(self.seq) {
            record.fault = Some(fault.to_string());
        }
        Decision::Apply(fault, state.latency)
    }

    /// Bills the work, stores the response for idempotent replays, and returns its body.
    fn bill(&self, request: &ChatRequest) -> Bytes {
        let created = format::unix_now_ms() / 1_000;
        let mut state = self.shared.lock();
        state.stats.billed += 1;
        let n = state.stats.billed;
        let body = responses::completion(request, n, &self.request_id, created);
        if let Some(key) = &self.key {
            let entry = state.keys.entry(key.clone()).or_default();
            entry.stored = Some(body.clone());
            entry.in_progress = false;
        }
        if let Some(record) = state.record_mut(self.seq) {
            record.billed = true;
        }
        body
    }
}

fn ok_planned(body: Bytes) -> Planned {
    Planned {
        status: 200,
        content_type: responses::JSON,
        headers: Vec::new(),
        body,
        hint: None,
    }
}

fn build_response(
    planned: Planned,
    request_id: &str,
    should_retry: Option<bool>,
    replayed: bool,
    cut: bool,
) -> Response<MockBody> {
    let body = if cut {
        MockBody::cut(planned.body)
    } else {
        MockBody::full(planned.body)
    };
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(planned.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(planned.content_type));
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert(HeaderName::from_static("x-request-id"), value);
    }
    if let Some(value) = should_retry {
        headers.insert(
            HeaderName::from_static("x-should-retry"),
            HeaderValue::from_static(if value { "true" } else { "false" }),
        );
    }
    if replayed {
        headers.insert(
            HeaderName::from_static("idempotent-replayed"),
            HeaderValue::from_static("true"),
        );
    }
    for (name, value) in planned.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            headers.append(name, value);
        }
    }
    response
}

/// Closes this request's connection without a response: never returns.
async fn close_connection(kill: &Notify) -> Response<MockBody> {
    kill.notify_one();
    std::future::pending().await
}

async fn handle(
    shared: Arc<Shared>,
    kill: Arc<Notify>,
    request: Request<Incoming>,
) -> Response<MockBody> {
    let exchange = Exchange::arrive(Arc::clone(&shared), request.headers());
    let plain =
        |planned: Planned, label: &str| exchange.respond(planned, label, None, false, false);

    if request.uri().path() != PATH {
        return plain(
            responses::status_response(404, &exchange.request_id),
            "not-found",
        );
    }
    if request.method() != Method::POST {
        let mut planned = responses::openai_error(
            405,
            "Method not allowed. Use POST.",
            "invalid_request_error",
            None,
            Some("method_not_supported"),
        );
        planned
            .headers
            .push(("allow".to_owned(), "POST".to_owned()));
        return plain(planned, "method-not-allowed");
    }
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            let (status, message) = if error.downcast_ref::<LengthLimitError>().is_some() {
                (413, "The request body is too large.")
            } else {
                (400, "The request body could not be read.")
            };
            let planned =
                responses::openai_error(status, message, "invalid_request_error", None, None);
            return plain(planned, "bad-request");
        }
    };
    let chat = match responses::parse_request(&body) {
        Ok(chat) => chat,
        Err(planned) => return plain(planned, "bad-request"),
    };

    let (fault, latency) = match exchange.decide(chat.token_cost()) {
        Decision::Replay(stored) => {
            return exchange.respond(ok_planned(stored), "replay", None, true, false);
        }
        Decision::Conflict => {
            let planned = responses::openai_error(
                409,
                "Another request with the same Idempotency-Key is in progress.",
                "invalid_request_error",
                None,
                Some("idempotency_key_in_use"),
            );
            return plain(planned, "idempotency-conflict");
        }
        Decision::Capacity(wait) => {
            return plain(responses::capacity_response(wait), "capacity");
        }
        Decision::Apply(fault, latency) => (fault, latency),
    };
    let label = fault.to_string();
    let should_retry = fault.should_retry;

    match fault.kind {
        FaultKind::DisconnectBeforeWork => {
            exchange.record_disconnect(&label);
            close_connection(&kill).await
        }
        FaultKind::Ok | FaultKind::Slow(_) | FaultKind::CutBody | FaultKind::Disconnect => {
            // Unmarks the key if the client leaves before the work is billed.
            let _in_progress = InProgress::new(Arc::clone(&shared), exchange.key.clone());
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            let body = exchange.bill(&chat);
            match fault.kind {
                FaultKind::Slow(delay) => {
                    let response =
                        exchange.respond(ok_planned(body), &label, should_retry, false, false);
                    tokio::time::sleep(delay).await;
                    response
                }
                FaultKind::CutBody => {
                    exchange.respond(ok_planned(body), &label, should_retry, false, true)
                }
                FaultKind::Disconnect => {
                    exchange.record_disconnect(&label);
                    close_connection(&kill).await
                }
                _ => exchange.respond(ok_planned(body), &label, should_retry, false, false),
            }
        }
        kind => {
            let planned = responses::fault_response(
                &kind,
                &chat.model,
                &exchange.request_id,
                format::Moment::now(),
            )
            .unwrap_or_else(|| responses::status_response(500, &exchange.request_id));
            exchange.respond(planned, &label, should_retry, false, false)
        }
    }
}
