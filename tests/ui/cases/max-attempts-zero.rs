use retry_runtime::retry;

#[retry(max_attempts = 0)]
fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
