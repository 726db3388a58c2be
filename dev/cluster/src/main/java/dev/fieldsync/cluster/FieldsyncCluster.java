package dev.fieldsync.cluster;

import java.io.File;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryUsage;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.CountDownLatch;

import dev.fieldsync.devcommon.Launch;

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
      Launch.exitOnStdinEof("FIELDSYNC_CLUSTER");
    }
    if (opts.exitWithPid > 0) {
      Launch.exitWithPid(opts.exitWithPid, "FIELDSYNC_CLUSTER");
    }

    int zkPort = opts.zkPort == 0 ? Launch.freePort(1) : opts.zkPort;
    ZooKeeperServer zk = startZooKeeper(data.resolve("zookeeper"), zkPort);

    int nnPort = opts.hdfsPort == 0 ? Launch.freePort(1) : opts.hdfsPort;
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
        ms, heap.getUsed() >> 20, heap.getMax() >> 20, Launch.rssMB(), zkConnect, hdfsUri, webHdfs);
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

  /** Options holds the parsed command line. */
  private static final class Options {
    Path data;
    int zkPort = 2182;
    int hdfsPort = 9820;
    boolean exitOnEof;
    long exitWithPid;

    private static final String USAGE = "FieldsyncCluster --data DIR [--zk-port N] [--hdfs-port N] [--exit-on-eof] [--exit-with-pid PID]";

    static Options parse(String[] args) {
      return Launch.parse(args, Options::parseArgs, "fieldsync-cluster", USAGE);
    }

    private static Options parseArgs(String[] args) {
      Options o = new Options();
      for (int i = 0; i < args.length; i++) {
        String a = args[i];
        switch (a) {
          case "--data":
            o.data = Paths.get(Launch.value(args, ++i, a));
            break;
          case "--zk-port":
            o.zkPort = Launch.port(Launch.value(args, ++i, a));
            break;
          case "--hdfs-port":
            o.hdfsPort = Launch.port(Launch.value(args, ++i, a));
            break;
          case "--exit-on-eof":
            o.exitOnEof = true;
            break;
          case "--exit-with-pid":
            o.exitWithPid = Launch.pid(Launch.value(args, ++i, a));
            break;
          default:
            throw new Launch.UsageException("unknown argument " + a);
        }
      }
      if (o.data == null) {
        throw new Launch.UsageException("--data DIR is required");
      }
      return o;
    }
  }
}
