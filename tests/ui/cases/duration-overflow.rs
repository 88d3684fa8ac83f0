use retry_runtime::retry;

#[retry(deadline = 1000000000h)]
fn fetch() -> Result<u32, std::io::Error> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
