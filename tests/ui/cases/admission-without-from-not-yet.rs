use retry_runtime::{retry, AdmissionGate, Classify, ErrorClass};

static GATE: AdmissionGate = AdmissionGate::new();

#[derive(Debug)]
struct ApiError;

impl Classify for ApiError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Server
    }
}

#[retry(admission = GATE)]
fn call() -> Result<u32, ApiError> {
    Ok(1)
}

fn main() {}
