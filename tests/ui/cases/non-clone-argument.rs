use retry_runtime::{retry, Classify, ErrorClass};

#[derive(Debug)]
struct ApiError;

impl Classify for ApiError {
    fn class(&self) -> ErrorClass {
        ErrorClass::Server
    }
}

struct Request {
    body: String,
}

#[retry]
fn send(request: Request) -> Result<usize, ApiError> {
    Ok(request.body.len())
}

fn main() {
    let _ = send(Request { body: String::new() });
}
