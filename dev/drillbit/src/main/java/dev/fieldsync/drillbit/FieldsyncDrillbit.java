package dev.fieldsync.drillbit;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;

import org.apache.drill.common.config.DrillConfig;
import org.apache.drill.exec.ExecConstants;
import org.apache.drill.exec.server.Drillbit;
import org.apache.drill.exec.server.RemoteServiceSet;
import org.apache.drill.exec.store.StoragePluginRegistry;
import org.apache.drill.exec.store.dfs.FileSystemConfig;
import org.apache.drill.exec.store.dfs.WorkspaceConfig;

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
 * <p>When the Drillbit is ready it prints {@code FIELDSYNC_DRILL_URL=http://127.0.0.1:PORT}
 * and writes the same URL to {@code <data>/ready}. It stops on SIGTERM.
 *
 * <p>Arguments (each may also be given as a system property
 * {@code fieldsync.drill.<name>}):
 * <pre>
 *   --data DIR          data directory (required)
 *   --workspace DIR     dfs.fieldsync directory (default DATA/workspace)
 *   --http-port N       web/REST port, 0 picks a free one (default 8047)
 *   --user-port N       user RPC port; control is N+1, data N+2; 0 picks (default 31010)
 *   --auth              turn on authentication (test-only user below)
 *   --exit-on-eof       stop when standard input reaches end of file, so a
 *                       Drillbit started by a test process dies with it
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
      exitOnStdinEof();
    }

    Path data = opts.data.toAbsolutePath().normalize();
    Path workspace = opts.workspace == null ? data.resolve("workspace") : opts.workspace.toAbsolutePath().normalize();
    for (String d : new String[] {"store", "tmp", "spill", "codegen", "trace", "udf", "dfs-tmp"}) {
      mkdirs(data.resolve(d));
    }
    mkdirs(workspace);
    Path ready = data.resolve("ready");
    Files.deleteIfExists(ready);

    int httpPort = opts.httpPort == 0 ? freePort(1) : opts.httpPort;
    int userPort = opts.userPort == 0 ? freePort(3) : opts.userPort;

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

    Drillbit drillbit = Drillbit.start(config, RemoteServiceSet.getLocalServiceSet());

    try {
      configureWorkspace(drillbit.getContext().getStorage(), workspace, data.resolve("dfs-tmp"));
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
    System.out.printf("FIELDSYNC_DRILL_STARTED ms=%d heap_used_mb=%d heap_max_mb=%d rss_mb=%d user_port=%d auth=%b workspace=%s%n",
        ms, heap.getUsed() >> 20, heap.getMax() >> 20, rssMB(), drillbit.getUserPort(), opts.auth, workspace);
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
   * exitOnStdinEof stops the JVM (and so, through Drill's shutdown hook, the
   * Drillbit) once standard input is closed: the parent that holds the other
   * end of the pipe has exited, however it exited.
   */
  private static void exitOnStdinEof() {
    Thread t = new Thread(() -> {
      byte[] buf = new byte[256];
      try {
        while (System.in.read(buf) >= 0) {
          // Input is ignored; only its end matters.
        }
      } catch (IOException e) {
        // A broken stdin means the parent is gone as well.
      }
      System.out.println("FIELDSYNC_DRILL_STDIN_EOF stopping");
      System.exit(0);
    }, "fieldsync-stdin-watch");
    t.setDaemon(true);
    t.start();
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
   * and moves dfs.tmp, Drill's default temporary workspace, under the data dir.
   */
  private static void configureWorkspace(StoragePluginRegistry registry, Path workspace, Path dfsTmp)
      throws Exception {
    FileSystemConfig dfs = (FileSystemConfig) registry.copyConfig("dfs");
    dfs.getWorkspaces().put("fieldsync", new WorkspaceConfig(workspace.toString(), true, "parquet", false));
    dfs.getWorkspaces().put("tmp", new WorkspaceConfig(dfsTmp.toString(), true, null, false));
    dfs.setEnabled(true);
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

  /**
   * freePort finds a port p on 127.0.0.1 such that p..p+count-1 are all free
   * right now. Drill hunts for the next port itself if one is taken later.
   */
  private static int freePort(int count) throws IOException {
    InetAddress lo = InetAddress.getByName("127.0.0.1");
    for (int attempt = 0; attempt < 50; attempt++) {
      int p;
      try (ServerSocket s = new ServerSocket(0, 1, lo)) {
        p = s.getLocalPort();
      }
      if (p + count > 65535) {
        continue;
      }
      boolean ok = true;
      for (int i = 1; i < count && ok; i++) {
        ok = isFree(lo, p + i);
      }
      if (ok) {
        return p;
      }
    }
    throw new IOException("no " + count + " consecutive free ports on 127.0.0.1");
  }

  private static boolean isFree(InetAddress lo, int port) {
    try (ServerSocket s = new ServerSocket()) {
      s.setReuseAddress(true);
      s.bind(new InetSocketAddress(lo, port));
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  private static long rssMB() {
    try {
      for (String line : Files.readAllLines(Paths.get("/proc/self/status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("[^0-9]", "")) >> 10;
        }
      }
    } catch (IOException | NumberFormatException e) {
      // Not Linux: report -1.
    }
    return -1;
  }

  /** Options holds the parsed command line. */
  private static final class Options {
    Path data;
    Path workspace;
    int httpPort = 8047;
    int userPort = 31010;
    boolean auth;
    boolean exitOnEof;

    static Options parse(String[] args) {
      Options o = new Options();
      String v;
      if ((v = System.getProperty("fieldsync.drill.data")) != null) o.data = Paths.get(v);
      if ((v = System.getProperty("fieldsync.drill.workspace")) != null) o.workspace = Paths.get(v);
      if ((v = System.getProperty("fieldsync.drill.http-port")) != null) o.httpPort = port(v);
      if ((v = System.getProperty("fieldsync.drill.user-port")) != null) o.userPort = port(v);
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
            o.data = Paths.get(value(args, ++i, a));
            break;
          case "--workspace":
            o.workspace = Paths.get(value(args, ++i, a));
            break;
          case "--http-port":
            o.httpPort = port(value(args, ++i, a));
            break;
          case "--user-port":
            o.userPort = port(value(args, ++i, a));
            break;
          default:
            usage("unknown argument " + a);
        }
      }
      if (o.data == null) {
        usage("--data DIR is required");
      }
      return o;
    }

    private static String value(String[] args, int i, String flag) {
      if (i >= args.length) {
        usage(flag + " needs a value");
      }
      return args[i];
    }

    private static int port(String s) {
      try {
        int p = Integer.parseInt(s);
        if (p >= 0 && p <= 65535) {
          return p;
        }
      } catch (NumberFormatException e) {
        // fall through
      }
      usage("bad port " + s);
      return -1;
    }

    private static void usage(String msg) {
      System.err.println("fieldsync-drillbit: " + msg);
      System.err.println("usage: FieldsyncDrillbit --data DIR [--workspace DIR] [--http-port N] [--user-port N] [--auth] [--exit-on-eof]");
      System.exit(2);
    }
  }
}
