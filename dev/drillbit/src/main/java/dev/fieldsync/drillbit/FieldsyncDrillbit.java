package dev.fieldsync.drillbit;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import dev.fieldsync.devcommon.Launch;

import org.apache.drill.common.config.DrillConfig;
import org.apache.drill.exec.ExecConstants;
import org.apache.drill.exec.server.Drillbit;
import org.apache.drill.exec.server.RemoteServiceSet;
import org.apache.drill.exec.store.StoragePluginRegistry;
import org.apache.drill.exec.store.dfs.FileSystemConfig;
import org.apache.drill.exec.store.dfs.WorkspaceConfig;
import org.apache.drill.exec.store.sys.store.provider.ZookeeperPersistentStoreProvider;

/**
 * FieldsyncDrillbit starts one embedded Apache Drill Drillbit in this JVM for
 * fieldsync development and tests.
 *
 * <p>It uses Drill's local service set (no ZooKeeper), binds every port to
 * 127.0.0.1, keeps the persistent store, tmp, spill, codegen and UDF
 * directories under one data directory, and configures a writable
 * {@code dfs.fieldsync} workspace. With {@code --auth} it turns on user
 * authentication with Drill's htpasswd authenticator and FORM + BASIC HTTP
 * authentication for one test-only user.
 *
 * <p>With {@code --zk} it runs in distributed mode instead, as one Drillbit
 * of a cluster: it registers in that ZooKeeper under the cluster id, keeps
 * storage plugins and options there (shared by every Drillbit of the
 * cluster), and with {@code --dfs} the {@code dfs} plugin's file system is
 * that URI (e.g. HDFS), the workspace a path on it, and query profiles go to
 * {@code <dfs>/drill/profiles} so any Drillbit shows them. scripts/cluster.sh
 * starts two of these beside dev/cluster's ZooKeeper and HDFS.
 *
 * <p>When the Drillbit is ready it prints {@code FIELDSYNC_DRILL_URL=http://127.0.0.1:PORT}
 * and writes the same URL to {@code <data>/ready}. It stops on SIGTERM.
 *
 * <p>Arguments (each may also be given as a system property
 * {@code fieldsync.drill.<name>}):
 * <pre>
 *   --data DIR          data directory (required)
 *   --workspace DIR     dfs.fieldsync directory (default DATA/workspace, or
 *                       /fieldsync on the --dfs file system)
 *   --http-port N       web/REST port, 0 picks a free one (default 8047)
 *   --user-port N       user RPC port; control is N+1, data N+2; 0 picks (default 31010)
 *   --auth              turn on authentication (test-only user below)
 *   --exit-on-eof       stop when standard input reaches end of file, so a
 *                       Drillbit started by a test process dies with it
 *   --exit-with-pid P   stop when process P has exited
 *   --zk HOST:PORT      distributed mode: register in this ZooKeeper
 *   --cluster-id ID     the cluster's id in ZooKeeper (default fieldsync-dev)
 *   --dfs URI           the dfs plugin's connection, e.g. hdfs://127.0.0.1:9820/
 * </pre>
 */
public final class FieldsyncDrillbit {
  /** TEST_USER is the only user of the auth profile. Test-only credentials. */
  static final String TEST_USER = "fieldsync";
  /** TEST_PASSWORD is TEST_USER's password. Test-only: never use it anywhere real. */
  static final String TEST_PASSWORD = "fieldsync-test-pw";

  private FieldsyncDrillbit() {}

  public static void main(String[] args) throws Exception {
    long startNanos = System.nanoTime();
    Options opts = Options.parse(args);
    if (opts.exitOnEof) {
      Launch.exitOnStdinEof("FIELDSYNC_DRILL");
    }
    if (opts.exitWithPid > 0) {
      Launch.exitWithPid(opts.exitWithPid, "FIELDSYNC_DRILL");
    }

    Path data = opts.data.toAbsolutePath().normalize();
    for (String d : new String[] {"store", "tmp", "spill", "codegen", "trace", "udf", "dfs-tmp", "profiles"}) {
      mkdirs(data.resolve(d));
    }
    // The workspace and dfs.tmp: local directories, or paths on the --dfs
    // file system (which dev/cluster creates).
    String workspace;
    String dfsTmp;
    if (opts.dfs != null) {
      workspace = opts.workspace == null ? "/fieldsync" : opts.workspace.toString();
      dfsTmp = "/tmp";
    } else {
      Path ws = opts.workspace == null ? data.resolve("workspace") : opts.workspace.toAbsolutePath().normalize();
      mkdirs(ws);
      workspace = ws.toString();
      dfsTmp = data.resolve("dfs-tmp").toString();
    }
    Path ready = data.resolve("ready");
    Files.deleteIfExists(ready);

    int httpPort = opts.httpPort == 0 ? Launch.freePort(1) : opts.httpPort;
    int userPort = opts.userPort == 0 ? Launch.freePort(3) : opts.userPort;

    // Properties override every Drill config file. Their values are strings,
    // so a list is given as numbered keys (dir.0, dir.1), which Typesafe
    // Config reads back as a list; ${drill.exec.spill.directories} in
    // drill-module.conf then resolves to our spill directory too.
    Properties props = new Properties();
    props.setProperty(ExecConstants.RPC_BIND_ADDR, "127.0.0.1");
    props.setProperty(ExecConstants.HTTP_BIND_ADDR, "127.0.0.1");
    props.setProperty(ExecConstants.HTTP_PORT, Integer.toString(httpPort));
    props.setProperty(ExecConstants.INITIAL_USER_PORT, Integer.toString(userPort));
    props.setProperty(ExecConstants.INITIAL_BIT_PORT, Integer.toString(userPort + 1));
    props.setProperty(ExecConstants.SYS_STORE_PROVIDER_LOCAL_PATH, data.resolve("store").toString());
    props.setProperty(ExecConstants.SYS_STORE_PROVIDER_LOCAL_ENABLE_WRITE, "true");
    props.setProperty(ExecConstants.DRILL_TMP_DIR, data.resolve("tmp").toString());
    props.setProperty("drill.exec.tmp.directories.0", data.resolve("tmp").toString());
    props.setProperty("drill.exec.spill.directories.0", data.resolve("spill").toString());
    props.setProperty("drill.exec.compile.code_dir", data.resolve("codegen").toString());
    props.setProperty("drill.exec.trace.directory", data.resolve("trace").toString());
    props.setProperty(ExecConstants.UDF_DIRECTORY_FS, "file:///");
    props.setProperty(ExecConstants.UDF_DIRECTORY_ROOT, data.resolve("udf").toString());
    props.setProperty(ExecConstants.GRACE_PERIOD, "0");
    props.setProperty("drill.exec.enable-epoll", "false");
    if (opts.zk != null) {
      props.setProperty(ExecConstants.ZK_CONNECTION, opts.zk);
      props.setProperty(ExecConstants.SERVICE_NAME, opts.clusterId);
      // Drill refuses 127.0.0.1 in distributed mode unless told that every
      // Drillbit of the cluster is on this machine, as here.
      props.setProperty(ExecConstants.ALLOW_LOOPBACK_ADDRESS_BINDING, "true");
      // Profiles of every Drillbit in one place: on the shared file system
      // when there is one, so /profiles of any Drillbit lists them all.
      props.setProperty(ZookeeperPersistentStoreProvider.DRILL_EXEC_SYS_STORE_PROVIDER_ZK_BLOBROOT,
          opts.dfs != null ? opts.dfs.replaceAll("/+$", "") + "/drill/profiles" : data.resolve("profiles").toString());
    }
    if (opts.auth) {
      Path htpasswd = data.resolve("htpasswd");
      writeHtpasswd(htpasswd);
      props.setProperty(ExecConstants.USER_AUTHENTICATION_ENABLED, "true");
      props.setProperty(ExecConstants.USER_AUTHENTICATOR_IMPL, "htpasswd");
      props.setProperty(ExecConstants.HTPASSWD_AUTHENTICATOR_PATH, htpasswd.toString());
      props.setProperty(ExecConstants.HTTP_AUTHENTICATION_MECHANISMS + ".0", "FORM");
      props.setProperty(ExecConstants.HTTP_AUTHENTICATION_MECHANISMS + ".1", "BASIC");
    }
    DrillConfig config = DrillConfig.create(props);
    checkConfig(config, props);

    // No service set means distributed mode: ZooKeeper coordination and the
    // ZooKeeper persistent store.
    Drillbit drillbit = Drillbit.start(config, opts.zk == null ? RemoteServiceSet.getLocalServiceSet() : null);

    try {
      configureWorkspace(drillbit.getContext().getStorage(), opts.dfs, workspace, dfsTmp);
      if (opts.auth) {
        // The test user administers storage plugins, as fieldsync does in production.
        String processUser = System.getProperty("user.name");
        drillbit.getContext().getOptionManager()
            .setLocalOption(ExecConstants.ADMIN_USERS_KEY, TEST_USER + "," + processUser);
      }
    } catch (Exception e) {
      // Drill's threads would keep a half-configured Drillbit alive.
      System.err.println("fieldsync-drillbit: configure the Drillbit: " + e);
      e.printStackTrace();
      drillbit.close();
      System.exit(1);
    }

    String url = "http://127.0.0.1:" + drillbit.getWebServerPort();
    Path readyTmp = data.resolve("ready.tmp");
    Files.writeString(readyTmp, url + "\n", StandardCharsets.UTF_8);
    Files.move(readyTmp, ready, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);

    long ms = (System.nanoTime() - startNanos) / 1_000_000;
    MemoryUsage heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
    System.out.printf("FIELDSYNC_DRILL_STARTED ms=%d heap_used_mb=%d heap_max_mb=%d rss_mb=%d user_port=%d auth=%b workspace=%s%s%n",
        ms, heap.getUsed() >> 20, heap.getMax() >> 20, Launch.rssMB(), drillbit.getUserPort(), opts.auth,
        opts.dfs == null ? "" : opts.dfs.replaceAll("/+$", ""), workspace);
    System.out.println("FIELDSYNC_DRILL_URL=" + url);
    System.out.flush();

    // Drill's own shutdown hook closes the Drillbit on SIGTERM; the main
    // thread only has to stay alive until then.
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        Files.deleteIfExists(ready);
      } catch (IOException e) {
        // Nothing useful to do while the JVM exits.
      }
    }, "fieldsync-ready-cleanup"));
    new CountDownLatch(1).await();
  }

  /**
   * checkConfig fails start-up when a setting did not take effect, so a
   * Drillbit never silently listens on 0.0.0.0 or writes under /tmp/drill.
   */
  private static void checkConfig(DrillConfig config, Properties props) {
    for (String key : props.stringPropertyNames()) {
      int dot = key.lastIndexOf('.');
      boolean listItem = dot > 0 && key.substring(dot + 1).chars().allMatch(Character::isDigit);
      String want = props.getProperty(key);
      String got;
      if (listItem) {
        List<String> list = config.getStringList(key.substring(0, dot));
        int i = Integer.parseInt(key.substring(dot + 1));
        got = i < list.size() ? list.get(i) : null;
      } else {
        got = config.getString(key);
      }
      if (!want.equals(got)) {
        throw new IllegalStateException("drill config " + key + " is " + got + ", want " + want);
      }
    }
    List<String> spill = config.getStringList("drill.exec.sort.external.spill.directories");
    if (!spill.equals(config.getStringList("drill.exec.spill.directories"))) {
      throw new IllegalStateException("drill config sort spill directories are " + spill);
    }
  }

  /**
   * configureWorkspace adds (or updates) the writable dfs.fieldsync workspace
   * and moves dfs.tmp, Drill's default temporary workspace, under the data dir
   * (or onto the shared file system). With connection set, the dfs plugin
   * reads and writes that file system. In a cluster the plugin lives in
   * ZooKeeper: a Drillbit that finds it configured already leaves it alone,
   * so a restart does not disturb the queries of the others.
   */
  private static void configureWorkspace(StoragePluginRegistry registry, String connection, String workspace, String dfsTmp)
      throws Exception {
    FileSystemConfig old = (FileSystemConfig) registry.copyConfig("dfs");
    Map<String, WorkspaceConfig> workspaces = new HashMap<>(old.getWorkspaces());
    workspaces.put("fieldsync", new WorkspaceConfig(workspace, true, "parquet", false));
    workspaces.put("tmp", new WorkspaceConfig(dfsTmp, true, null, false));
    Map<String, String> fsConfig = old.getConfig() == null ? new HashMap<>() : new HashMap<>(old.getConfig());
    if (connection != null) {
      // The development HDFS has one DataNode: files written with the
      // client's default replication (3) would stay under-replicated.
      fsConfig.put("dfs.replication", "1");
    }
    FileSystemConfig dfs = new FileSystemConfig(connection == null ? old.getConnection() : connection,
        fsConfig, workspaces, old.getFormats(), old.oAuthConfig(), old.getCredentialsProvider());
    dfs.setEnabled(true);
    if (dfs.equals(old) && old.isEnabled()) {
      return;
    }
    registry.put("dfs", dfs);
  }

  /**
   * writeHtpasswd writes the test user with a {SHA} hash (Drill's htpasswd
   * authenticator also accepts $apr1$, $1$ and plain text).
   */
  private static void writeHtpasswd(Path path) throws Exception {
    byte[] sha = MessageDigest.getInstance("SHA-1").digest(TEST_PASSWORD.getBytes(StandardCharsets.UTF_8));
    String line = "# fieldsync test-only user; never use these credentials anywhere real.\n"
        + TEST_USER + ":{SHA}" + Base64.getEncoder().encodeToString(sha) + "\n";
    Path tmp = path.resolveSibling(path.getFileName() + ".tmp");
    Files.deleteIfExists(tmp);
    Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    Files.writeString(tmp, line, StandardCharsets.UTF_8);
    Files.move(tmp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
  }

  private static void mkdirs(Path dir) throws IOException {
    if (!Files.isDirectory(dir)) {
      Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    }
  }

  /** Options holds the parsed command line. */
  private static final class Options {
    Path data;
    Path workspace;
    int httpPort = 8047;
    int userPort = 31010;
    boolean auth;
    boolean exitOnEof;
    long exitWithPid;
    String zk;
    String clusterId = "fieldsync-dev";
    String dfs;

    private static final String USAGE = "FieldsyncDrillbit --data DIR [--workspace DIR] [--http-port N] [--user-port N] [--auth]"
          + " [--exit-on-eof] [--exit-with-pid PID] [--zk HOST:PORT [--cluster-id ID] [--dfs URI]]";

    static Options parse(String[] args) {
      return Launch.parse(args, Options::parseArgs, "fieldsync-drillbit", USAGE);
    }

    private static Options parseArgs(String[] args) {
      Options o = new Options();
      String v;
      if ((v = System.getProperty("fieldsync.drill.data")) != null) o.data = Paths.get(v);
      if ((v = System.getProperty("fieldsync.drill.workspace")) != null) o.workspace = Paths.get(v);
      if ((v = System.getProperty("fieldsync.drill.http-port")) != null) o.httpPort = Launch.port(v);
      if ((v = System.getProperty("fieldsync.drill.user-port")) != null) o.userPort = Launch.port(v);
      if ((v = System.getProperty("fieldsync.drill.auth")) != null) o.auth = Boolean.parseBoolean(v);
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        switch (a) {
          case "--auth":
            o.auth = true;
            break;
          case "--exit-on-eof":
            o.exitOnEof = true;
            break;
          case "--data":
            o.data = Paths.get(Launch.value(args, ++i, a));
            break;
          case "--workspace":
            o.workspace = Paths.get(Launch.value(args, ++i, a));
            break;
          case "--http-port":
            o.httpPort = Launch.port(Launch.value(args, ++i, a));
            break;
          case "--user-port":
            o.userPort = Launch.port(Launch.value(args, ++i, a));
            break;
          case "--exit-with-pid":
            o.exitWithPid = Launch.pid(Launch.value(args, ++i, a));
            break;
          case "--zk":
            o.zk = Launch.value(args, ++i, a);
            break;
          case "--cluster-id":
            o.clusterId = Launch.value(args, ++i, a);
            break;
          case "--dfs":
            o.dfs = Launch.value(args, ++i, a);
            break;
          default:
            throw new Launch.UsageException("unknown argument " + a);
        }
      }
      if (o.data == null) {
        throw new Launch.UsageException("--data DIR is required");
      }
      if (o.dfs != null && o.zk == null) {
        throw new Launch.UsageException("--dfs needs --zk: a shared file system is for a cluster");
      }
      return o;
    }
  }
}
