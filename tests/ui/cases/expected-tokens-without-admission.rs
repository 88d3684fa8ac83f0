use retry_runtime::{retry, Classify, ErrorClass};

#[derive(Debug)]
struct ApiError;

impl Classify for ApiError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Server
    }
}

#[retry(expected_tokens = prompt.len() / 4 + 512)]
fn complete(prompt: &str) -> Result<u32, ApiError> {
    Ok(prompt.len() as u32)
}

fn main() {}
