// Lists functions longer than 120 lines (the STYLE.md bound) in the given source directories
// (generated code in gen/ and generated/ is skipped): node scripts/long-functions.mjs
// packages/core/src packages/agent/src packages/controller/src proto/src. Prints nothing when
// there is none.
import ts from 'typescript';
import fs from 'node:fs';
import path from 'node:path';
const roots = process.argv.slice(2);
const files = [];
const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) { const p = path.join(d, e.name); if (e.isDirectory()) { if (!['node_modules','dist','generated','gen'].includes(e.name)) walk(p); } else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) files.push(p); } };
roots.forEach(walk);
const out = [];
for (const f of files) {
  const src = ts.createSourceFile(f, fs.readFileSync(f, 'utf8'), ts.ScriptTarget.Latest, true);
  const visit = (n) => {
    if (ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n) || ts.isArrowFunction(n) || ts.isFunctionExpression(n) || ts.isConstructorDeclaration(n) || ts.isGetAccessor(n)) {
      if (n.body) {
        const a = src.getLineAndCharacterOfPosition(n.getStart()).line, b = src.getLineAndCharacterOfPosition(n.end).line;
        const len = b - a + 1;
        if (len > 120) out.push(`${len}\t${f}:${a + 1}\t${(n.name && n.name.getText && n.name.getText()) || ''}`);
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(src);
}
console.log(out.sort((x, y) => parseInt(y) - parseInt(x)).join('\n'));
