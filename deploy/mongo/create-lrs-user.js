// Run by the compose service `mongo-init` (mongosh, connected to replica set rs0 as root).
// Idempotent: creates the LRS's user in the `lrs` database, or sets its password and roles
// again (so changing MONGO_LRS_PASSWORD in deploy/.env and re-running mongo-init rotates it).
// The LRS needs readWrite on its own database only (collections, indexes, transactions).
const name = process.env.MONGO_LRS_USERNAME;
const pwd = process.env.MONGO_LRS_PASSWORD;
if (!name || !pwd) {
  print("MONGO_LRS_USERNAME and MONGO_LRS_PASSWORD must be set");
  quit(1);
}
const lrs = db.getSiblingDB("lrs");
const roles = [{ role: "readWrite", db: "lrs" }];
const majority = { w: "majority", wtimeout: 60000 };
if (lrs.getUser(name)) {
  lrs.updateUser(name, { pwd, roles }, majority);
  print(`updated user ${name} in database lrs`);
} else {
  lrs.createUser({ user: name, pwd, roles }, majority);
  print(`created user ${name} in database lrs`);
}
