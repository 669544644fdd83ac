int tb_old(void) { return 17; }
int tb_new(void) { return 34; }
