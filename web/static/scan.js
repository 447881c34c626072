/* Scan a code with the camera where the browser has BarcodeDetector (Chrome on Android);
 * everywhere else the input stays a plain text field for typing the code.
 * Inputs marked data-scan get a "扫码" button; a scanned value fills the input, and a
 * GET form (open a batch) is submitted at once. ES2017, no inline script or style (CSP). */
(function () {
  'use strict';
  if (!('BarcodeDetector' in window) || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return;
  }
  var english = document.documentElement.lang === 'en';
  var TEXT = english
    ? { scan: 'Scan', close: 'Close camera', failed: 'The camera could not be opened; please type the code.' }
    : { scan: '扫码', close: '关闭摄像头', failed: '无法打开摄像头，请手动输入。' };

  function start(input, button) {
    var detector;
    try {
      detector = new window.BarcodeDetector({ formats: ['qr_code', 'data_matrix', 'code_128'] });
    } catch (e) {
      detector = new window.BarcodeDetector();
    }
    var field = input.closest('.field') || input.parentNode;
    var box = document.createElement('div');
    box.className = 'scanner';
    var video = document.createElement('video');
    video.setAttribute('playsinline', '');
    video.muted = true;
    var close = document.createElement('button');
    close.type = 'button';
    close.className = 'secondary';
    close.textContent = TEXT.close;
    box.appendChild(video);
    box.appendChild(close);
    field.appendChild(box);
    button.disabled = true;
    var stream = null;
    var finished = false;

    function finish() {
      finished = true;
      if (stream) {
        stream.getTracks().forEach(function (track) { track.stop(); });
      }
      if (box.parentNode) {
        box.parentNode.removeChild(box);
      }
      button.disabled = false;
    }

    function tick() {
      if (finished) {
        return;
      }
      detector.detect(video).then(function (codes) {
        if (finished) {
          return;
        }
        if (codes.length && codes[0].rawValue) {
          input.value = codes[0].rawValue;
          finish();
          var form = input.form;
          if (form && (form.getAttribute('method') || 'get').toLowerCase() === 'get') {
            form.submit();
          } else {
            input.focus();
          }
          return;
        }
        window.setTimeout(tick, 200);
      }).catch(function () {
        window.setTimeout(tick, 500);
      });
    }

    close.addEventListener('click', finish);
    navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' }, audio: false }).then(function (media) {
      stream = media;
      if (finished) {
        finish();
        return;
      }
      video.srcObject = media;
      video.addEventListener('loadeddata', tick);
      var playing = video.play();
      if (playing && playing.catch) {
        playing.catch(function () {});
      }
    }).catch(function () {
      finish();
      var note = document.createElement('p');
      note.className = 'error';
      note.textContent = TEXT.failed;
      field.appendChild(note);
    });
  }

  var inputs = document.querySelectorAll('input[data-scan]');
  Array.prototype.forEach.call(inputs, function (input) {
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary scan-button';
    button.textContent = TEXT.scan;
    input.parentNode.appendChild(button);
    button.addEventListener('click', function () { start(input, button); });
  });
})();
