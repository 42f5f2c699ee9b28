const escapeHtml = require('escape-html');

exports.page = (path) => `<h1>You asked for ${escapeHtml(path)}</h1>\n`;
