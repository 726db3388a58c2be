package dev.fieldsync.cluster;

import java.io.File;
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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.hdfs.DFSConfigKeys;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.zookeeper.server.ServerCnxnFactory;
import org.apache.zookeeper.server.ZooKeeperServer;

/**
 * FieldsyncCluster runs the shared services of fieldsync's development Drill
 * cluster in one JVM: a ZooKeeper server (which the Drillbits register in)
 * and a real HDFS, one NameNode and one DataNode from Hadoop's own
 * {@link MiniDFSCluster}, behind the {@code dfs.fieldsync} workspace.
 *
 * <p>Every port is bound to 127.0.0.1. All state (ZooKeeper snapshots and
 * logs, the NameNode image, DataNode blocks) lives under the data directory,
 * so a stopped cluster starts again with its tables. When ready it creates
 * the HDFS directories the Drillbits use ({@code /fieldsync}, {@code /tmp},
 * {@code /drill/profiles}), prints {@code FIELDSYNC_CLUSTER_STARTED ...} and
 * writes {@code <data>/ready} holding three lines:
 * <pre>
 *   zk=127.0.0.1:PORT
 *   hdfs=hdfs://127.0.0.1:PORT/
 *   webhdfs=http://127.0.0.1:PORT
 * </pre>
 *
 * <p>Arguments:
 * <pre>
 *   --data DIR          data directory (required)
 *   --zk-port N         ZooKeeper client port, 0 picks a free one (default 2182)
 *   --hdfs-port N       NameNode RPC port, 0 picks a free one (default 9820)
 *   --exit-on-eof       stop when standard input reaches end of file
 *   --exit-with-pid P   stop when process P has exited (the test that owns it)
 * </pre>
 */
public final class FieldsyncCluster {
  private FieldsyncCluster() {}

  public static void main(String[] args) throws Exception {
    long startNanos = System.nanoTime();
    Options opts = Options.parse(args);
    Path data = opts.data.toAbsolutePath().normalize();
    Files.createDirectories(data);
    Path ready = data.resolve("ready");
    Files.deleteIfExists(ready);
    if (opts.exitOnEof) {
      exitOnStdinEof();
    }
    if (opts.exitWithPid > 0) {
      exitWithPid(opts.exitWithPid);
    }

    int zkPort = opts.zkPort == 0 ? freePort() : opts.zkPort;
    ZooKeeperServer zk = startZooKeeper(data.resolve("zookeeper"), zkPort);

    int nnPort = opts.hdfsPort == 0 ? freePort() : opts.hdfsPort;
    MiniDFSCluster hdfs;
    try {
      hdfs = startHdfs(data.resolve("hdfs"), nnPort);
    } catch (Exception | LinkageError e) {
      System.err.println("fieldsync-cluster: start HDFS: " + e);
      e.printStackTrace();
      zk.shutdown();
      System.exit(1);
      return;
    }

    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        Files.deleteIfExists(ready);
      } catch (IOException e) {
        // Nothing useful to do while the JVM exits.
      }
      hdfs.shutdown();
      zk.shutdown();
    }, "fieldsync-cluster-shutdown"));

    String hdfsUri = "hdfs://127.0.0.1:" + hdfs.getNameNodePort() + "/";
    String webHdfs = "http://" + hdfs.getHttpUri(0).replaceFirst("^https?://", "").replaceFirst("^[^:]*:", "127.0.0.1:");
    String zkConnect = "127.0.0.1:" + zkPort;
    Path readyTmp = data.resolve("ready.tmp");
    Files.writeString(readyTmp, "zk=" + zkConnect + "\nhdfs=" + hdfsUri + "\nwebhdfs=" + webHdfs + "\n", StandardCharsets.UTF_8);
    Files.move(readyTmp, ready, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);

    long ms = (System.nanoTime() - startNanos) / 1_000_000;
    MemoryUsage heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
    System.out.printf("FIELDSYNC_CLUSTER_STARTED ms=%d heap_used_mb=%d heap_max_mb=%d rss_mb=%d zk=%s hdfs=%s webhdfs=%s%n",
        ms, heap.getUsed() >> 20, heap.getMax() >> 20, rssMB(), zkConnect, hdfsUri, webHdfs);
    System.out.flush();
    new CountDownLatch(1).await();
  }

  /**
   * startZooKeeper runs a standalone ZooKeeper server on 127.0.0.1 (no admin
   * server, no four-letter words beyond the default).
   */
  private static ZooKeeperServer startZooKeeper(Path dir, int port) throws Exception {
    File snap = dir.resolve("data").toFile();
    File log = dir.resolve("log").toFile();
    snap.mkdirs();
    log.mkdirs();
    ZooKeeperServer zks = new ZooKeeperServer(snap, log, 2000);
    ServerCnxnFactory factory = ServerCnxnFactory.createFactory();
    factory.configure(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), port), 100);
    factory.startup(zks);
    return zks;
  }

  /**
   * startHdfs runs one NameNode and one DataNode with replication 1 and
   * permission checks off, formatting the file system only on first start.
   */
  private static MiniDFSCluster startHdfs(Path dir, int nnPort) throws Exception {
    Configuration conf = new HdfsConfiguration();
    conf.setInt(DFSConfigKeys.DFS_REPLICATION_KEY, 1);
    conf.setBoolean(DFSConfigKeys.DFS_PERMISSIONS_ENABLED_KEY, false);
    conf.set(DFSConfigKeys.DFS_NAMENODE_HTTP_ADDRESS_KEY, "127.0.0.1:0");
    conf.set(DFSConfigKeys.DFS_DATANODE_ADDRESS_KEY, "127.0.0.1:0");
    conf.set(DFSConfigKeys.DFS_DATANODE_HTTP_ADDRESS_KEY, "127.0.0.1:0");
    conf.set(DFSConfigKeys.DFS_DATANODE_IPC_ADDRESS_KEY, "127.0.0.1:0");
    // Small blocks would only add RPCs; the default 128 MB is kept.
    boolean existing = Files.isDirectory(dir.resolve("name-0-1").resolve("current"))
        || Files.isDirectory(dir.resolve("name1").resolve("current"));
    MiniDFSCluster cluster = new MiniDFSCluster.Builder(conf, dir.toFile())
        .nameNodePort(nnPort)
        .numDataNodes(1)
        .format(!existing)
        .manageNameDfsDirs(true)
        .manageDataDfsDirs(true)
        .checkDataNodeAddrConfig(true)
        .waitSafeMode(true)
        .build();
    cluster.waitActive();
    FileSystem fs = cluster.getFileSystem();
    for (String p : new String[] {"/fieldsync", "/tmp", "/drill", "/drill/profiles"}) {
      org.apache.hadoop.fs.Path path = new org.apache.hadoop.fs.Path(p);
      fs.mkdirs(path);
      fs.setPermission(path, new FsPermission((short) 0777));
    }
    return cluster;
  }

  /** exitOnStdinEof stops the JVM once standard input is closed. */
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
      System.out.println("FIELDSYNC_CLUSTER_STDIN_EOF stopping");
      System.exit(0);
    }, "fieldsync-stdin-watch");
    t.setDaemon(true);
    t.start();
  }

  /** exitWithPid stops the JVM once process pid has exited. */
  private static void exitWithPid(long pid) {
    Thread t = new Thread(() -> {
      while (ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false)) {
        try {
          TimeUnit.SECONDS.sleep(1);
        } catch (InterruptedException e) {
          return;
        }
      }
      System.out.println("FIELDSYNC_CLUSTER_OWNER_EXITED pid=" + pid + " stopping");
      System.exit(0);
    }, "fieldsync-owner-watch");
    t.setDaemon(true);
    t.start();
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      return s.getLocalPort();
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
    int zkPort = 2182;
    int hdfsPort = 9820;
    boolean exitOnEof;
    long exitWithPid;

    static Options parse(String[] args) {
      Options o = new Options();
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        switch (a) {
          case "--data":
            o.data = Paths.get(value(args, ++i, a));
            break;
          case "--zk-port":
            o.zkPort = port(value(args, ++i, a));
            break;
          case "--hdfs-port":
            o.hdfsPort = port(value(args, ++i, a));
            break;
          case "--exit-on-eof":
            o.exitOnEof = true;
            break;
          case "--exit-with-pid":
            try {
              o.exitWithPid = Long.parseLong(value(args, ++i, a));
            } catch (NumberFormatException e) {
              usage("bad pid " + args[i]);
            }
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
      System.err.println("fieldsync-cluster: " + msg);
      System.err.println("usage: FieldsyncCluster --data DIR [--zk-port N] [--hdfs-port N] [--exit-on-eof] [--exit-with-pid PID]");
      System.exit(2);
    }
  }
}
