const http = require('http');
const debug = require('debug')('hello');
const { page } = require('./lib/page');

const port = Number(process.env.PORT || 3000);

http.createServer((req, res) => {
  debug('%s %s', req.method, req.url);
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
  res.end(page(req.url));
}).listen(port, () => debug('listening on %d', port));
