use retry_runtime::{retry, CircuitBreaker, CircuitOpen, Classify, ErrorClass, NotYet};

static BREAKER: CircuitBreaker = CircuitBreaker::new();

#[derive(Debug)]
struct ApiError;

impl Classify for ApiError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Server
    }
}

impl From<NotYet> for ApiError {
    fn from(_: NotYet) -> Self {
        ApiError
    }
}

impl From<CircuitOpen> for ApiError {
    fn from(_: CircuitOpen) -> Self {
        ApiError
    }
}

#[retry(admission = BREAKER)]
fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
