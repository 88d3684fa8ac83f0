use retry_runtime::retry;

#[retry(attempt_timeout = 30s)]
fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
