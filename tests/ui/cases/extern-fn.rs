use retry_runtime::retry;

#[retry]
#[allow(improper_ctypes_definitions)]
extern "C" fn fetch() -> Result<u32, std::io::ErrorKind> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
