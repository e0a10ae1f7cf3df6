fn main() {} // placeholder until the IPC benchmark lands
