use retry_runtime::{retry, AdmissionGate, Classify, ErrorClass, NotYet};

static GATE: AdmissionGate = AdmissionGate::new();

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

#[retry(admission = GATE, expected_tokens = prompt)]
fn complete(prompt: &str) -> Result<u32, ApiError> {
    Ok(prompt.len() as u32)
}

fn main() {}
