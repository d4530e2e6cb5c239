// Run by the compose service `mongo-init` (mongosh, connected directly to mongo1 as root).
// Idempotent: initiates replica set rs0 once, then waits until it has a writable primary.
const config = {
  _id: "rs0",
  members: [
    // mongo1 is preferred as primary at start; any member takes over if it fails.
    { _id: 0, host: "mongo1:27017", priority: 2 },
    { _id: 1, host: "mongo2:27017", priority: 1 },
    { _id: 2, host: "mongo3:27017", priority: 1 },
  ],
};

// "initiated", or "uninitiated" for a member started with --replSet that has no config yet.
// Anything else (mongo1 still in its first-start init phase, say) is waited out for a while.
function replicaSetState() {
  for (let attempt = 1; ; attempt++) {
    try {
      rs.status();
      return "initiated";
    } catch (error) {
      if (error.codeName === "NotYetInitialized") return "uninitiated";
      if (attempt >= 30) throw error;
      print(`waiting for mongo1 to run as a replica-set member: ${error.message}`);
      sleep(2000);
    }
  }
}

if (replicaSetState() === "initiated") {
  print("replica set rs0 is already initiated");
} else {
  printjson(rs.initiate(config));
}

const deadline = Date.now() + 120 * 1000;
for (;;) {
  let primary;
  try {
    primary = rs.status().members.find((m) => m.stateStr === "PRIMARY");
  } catch (error) {
    print(`waiting for a primary: ${error.message}`);
  }
  if (primary) {
    print(`replica set rs0 has a primary: ${primary.name}`);
    break;
  }
  if (Date.now() > deadline) {
    print("replica set rs0 elected no primary within 120 s");
    quit(1);
  }
  sleep(1000);
}
