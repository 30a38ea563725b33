#!/usr/bin/python3
# Script-level A/B of the hot-path Lua scripts (fetch + CompleteMany) of two commits, interleaved in blocks of 4,096
# messages on one redis-server, measured by Redis's own time per call (INFO commandstats usec of EVALSHA). The
# machine's drift cancels because the variants alternate block by block. Needs python3-redis (apt-get install
# python3-redis) and a redis-server:
#   git show <sha>:src/Runtime/Redis/Scripts/RedisScripts.Fetch.cs > fetch-a.cs   (and .Batch.cs, for each commit)
#   ROUNDS=30 /usr/bin/python3 build/bench/lua-ab.py <port> old,fetch-a.cs,batch-a.cs new,fetch-b.cs,batch-b.cs
# A variant labelled "old" writes results under layout 1 (P:r:<id>); any other label under layout 2 (P:{q}:r:<id>).
import re, sys, time, os, random, string
import redis
def extract(path, name):
    s = open(path).read()
    m = re.search(r'public const string ' + name + r' = """\n(.*?)\n\s*""";', s, re.S)
    return m.group(1)
r = redis.Redis(port=int(sys.argv[1]))
variants = {}
for spec in sys.argv[2:]:
    label, fpath, bpath = spec.split(',')
    variants[label] = (r.script_load(extract(fpath, 'Fetch')), r.script_load(extract(bpath, 'CompleteMany')))
P = 'bench:'
q = '{default}'
K = lambda s: f'{P}{q}:{s}'
msg = os.urandom(120)
def ident():
    return ''.join(random.choices(string.ascii_letters + string.digits, k=22))
def usec():
    st = r.info('commandstats')['cmdstat_evalsha']
    return st['usec'], st['calls']
res = {k: [] for k in variants}
BLOCK = 4096
for rnd in range(int(os.environ.get('ROUNDS', '12'))):
    for label, (fsha, csha) in (list(variants.items()) if rnd % 2 == 0 else list(reversed(variants.items()))):
        ids = [ident() for _ in range(BLOCK)]
        p = r.pipeline(transaction=False)
        for i in ids:
            p.hset(K('t:') + i, mapping={'msg': msg})
        p.lpush(K('pending'), *ids)
        p.execute()
        r.config_resetstat()
        now = int(time.time() * 1000)
        done = 0
        while True:
            out = r.evalsha(fsha, 6, K('pending'), K('active'), K('scheduled'), K('notify'), K('revoked'), K('dead'),
                            now, now + 30000, 64, K('t:'), 'w1', 'sfx', 64, 0)
            blob = out[2]
            if not blob:
                break
            # parse packed: flags u8, runs u32, dc u32, idlen u32, id, toklen u32, tok, msglen u32, msg
            items = []
            o = 0
            while o < len(blob):
                o += 9
                n = int.from_bytes(blob[o:o+4], 'big'); o += 4; i = blob[o:o+n].decode(); o += n
                n = int.from_bytes(blob[o:o+4], 'big'); o += 4; t = blob[o:o+n].decode(); o += n
                n = int.from_bytes(blob[o:o+4], 'big'); o += 4 + n
                items.append((i, t))
            argv = [86400000, K('t:'), P + 'done:', K('r:') if label != 'old' else P + 'r:']
            for i, t in items:
                argv += [i, t, '', 'SUCCESS', 'rec-bytes-0123456789']
            r.evalsha(csha, 1, K('active'), *argv)
            done += len(items)
        u, c = usec()
        res[label].append(u / BLOCK)
for k, v in res.items():
    v = sorted(v)
    print(f'{k:10s} script usec/task median {v[len(v)//2]:.3f}  min {v[0]:.3f}  max {v[-1]:.3f}')
