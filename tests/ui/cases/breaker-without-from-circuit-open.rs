use retry_runtime::{retry, CircuitBreaker, Classify, ErrorClass};

static BREAKER: CircuitBreaker = CircuitBreaker::new();

#[derive(Debug)]
struct ApiError;

impl Classify for ApiError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Server
    }
}

#[retry(circuit_breaker = BREAKER)]
fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
