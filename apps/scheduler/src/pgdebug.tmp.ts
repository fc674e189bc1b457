import pg from "pg";
const origConnect = (pg.Client.prototype as any).connect;
(pg.Client.prototype as any).connect = function (this: any, ...a: any[]) {
  this.__stack = new Error("connect site").stack;
  return origConnect.apply(this, a);
};
const origEmit = (pg.Client.prototype as any).emit;
(pg.Client.prototype as any).emit = function (this: any, ev: string, ...a: any[]) {
  if (ev === "error" && this.listenerCount("error") === 0) console.error("UNHANDLED PG CLIENT ERROR", a[0]?.message, this.__stack);
  return origEmit.call(this, ev, ...a);
};
