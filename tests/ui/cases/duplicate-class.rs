use retry_runtime::retry;

#[retry(on = [Timeout, RateLimit, Timeout(max_attempts = 2)])]
fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
