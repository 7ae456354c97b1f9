// R_init_sagesim forwards to the Rust registration so the linker keeps the
// static library; the panic hook keeps Rust panic noise off the console (a
// panic on R's thread still becomes an ordinary R error).
void R_init_sagesim_extendr(void *dll);
void register_extendr_panic_hook(void);

void R_init_sagesim(void *dll) {
  register_extendr_panic_hook();
  R_init_sagesim_extendr(dll);
}
