use retry_runtime::retry;

#[retry(wait = decorrelated(100ms, 10s), jitter = full)]
fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
