//! `no-model` builds: the protocol answers, inference reports `e-[no model]`.

use crate::out::Out;
use crate::protocol::Dut;

pub struct NoModel;

impl Dut for NoModel {
    type Error = &'static str;

    fn final_init(&mut self, _out: &mut Out) {}

    fn load_tensor(&mut self, out: &mut Out, _db: &[u8], _loaded: usize) -> Result<(), ()> {
        out.line("e-[no model]");
        Err(())
    }

    fn infer_once(&mut self) -> Result<(), Self::Error> {
        Err("no model")
    }

    fn results(&mut self, out: &mut Out, _db: &[u8], _after_infer: bool) {
        out.line("e-[no model]");
    }

    fn infer_extensions(&mut self, _out: &mut Out) {}

    fn info(&mut self, out: &mut Out) {
        out.str("m-mcubench-framework-[none (no-model build)]\r\nm-mcubench-board-[");
        out.str(crate::boards::NAME);
        crate::boards::clock_facts(out);
        out.line("]");
    }
}
