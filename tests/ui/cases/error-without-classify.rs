use retry_runtime::retry;

#[derive(Debug)]
struct PlainError;

#[retry]
fn fetch() -> Result<u32, PlainError> {
    Ok(1)
}

#[retry]
async fn fetch_async() -> Result<u32, PlainError> {
    Ok(1)
}

fn main() {
    let _ = fetch();
    let _ = fetch_async();
}
